{
  "targets": [
    {
      "target_name": "ustack",
      "sources": [
        "addon/module.cc",
        "addon/tap/tap.cc",
        "addon/e1000/e1000.cc",
        "addon/pci/pci.cc",
        "addon/dma/dma.cc",
        "addon/bytes/bytes.cc",
        "addon/dma/view_hold.cc",
        "addon/napi/errors.cc",
        "addon/napi/buffers.cc",
        "addon/napi/polled_device.cc",
        "addon/napi/tap_device.cc",
        "addon/napi/e1000_device.cc",
        "addon/napi/event_loop.cc",
        "addon/napi/bytes_binding.cc",
        "addon/registry/device_registry.cc",
        "addon/napi/xdp_device.cc",
        "addon/xdp/xdp.cc",
        "addon/xdp/xsk.cc",
        "addon/xdp/hook.cc",
        "addon/xdp/bpf_asm.cc",
        "addon/xdp/bpf_sys.cc",
        "addon/xdp/netlink_xdp.cc",
        "addon/xdp/program.cc",
        "addon/xdp/queues.cc",
        "addon/vnet_hdr/vnet_hdr.cc",
        "addon/virtio/transport.cc",
        "addon/virtio/net_queue.cc",
        "addon/virtio/virtio_net.cc",
        "addon/napi/virtio_device.cc",
        "addon/shm/region.cc",
        "addon/shm/toeplitz.cc",
        "addon/shm/classify.cc",
        "addon/shm/owner.cc",
        "addon/shm/port.cc",
        "addon/napi/shm_owner.cc",
        "addon/napi/shm_port.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "addon"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"]
    }
  ]
}
