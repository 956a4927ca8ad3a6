#include "shm/toeplitz.h"

namespace ustack::shm {

const uint8_t kMicrosoftRssKey[kRssKeyLen] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

namespace {
// The 32 key bits starting at bit position `bit` (0 = the top bit of key[0]).
uint32_t key_window(const uint8_t* key, size_t bit) {
  size_t byte = bit >> 3;
  unsigned shift = bit & 7;
  uint64_t w = (static_cast<uint64_t>(key[byte]) << 32) | (static_cast<uint64_t>(key[byte + 1]) << 24) |
               (static_cast<uint64_t>(key[byte + 2]) << 16) | (static_cast<uint64_t>(key[byte + 3]) << 8) |
               static_cast<uint64_t>(key[byte + 4]);
  return static_cast<uint32_t>((w << shift) >> 8);
}
}  // namespace

uint32_t toeplitz(const uint8_t* key, const uint8_t* data, size_t n) {
  uint32_t result = 0;
  for (size_t i = 0; i < n; i++) {
    for (unsigned b = 0; b < 8; b++) {
      if (data[i] & (0x80u >> b)) result ^= key_window(key, i * 8 + b);
    }
  }
  return result;
}

Toeplitz12::Toeplitz12(const uint8_t* key) {
  for (size_t i = 0; i < 12; i++) {
    for (unsigned v = 0; v < 256; v++) {
      uint32_t h = 0;
      for (unsigned b = 0; b < 8; b++) {
        if (v & (0x80u >> b)) h ^= key_window(key, i * 8 + b);
      }
      t_[i][v] = h;
    }
  }
}

uint32_t Toeplitz12::ipv4(uint32_t saddr, uint32_t daddr) const {
  return t_[0][saddr >> 24] ^ t_[1][(saddr >> 16) & 0xff] ^ t_[2][(saddr >> 8) & 0xff] ^ t_[3][saddr & 0xff] ^
         t_[4][daddr >> 24] ^ t_[5][(daddr >> 16) & 0xff] ^ t_[6][(daddr >> 8) & 0xff] ^ t_[7][daddr & 0xff];
}

uint32_t Toeplitz12::ipv4_l4(uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport) const {
  return ipv4(saddr, daddr) ^ t_[8][sport >> 8] ^ t_[9][sport & 0xff] ^ t_[10][dport >> 8] ^ t_[11][dport & 0xff];
}

}  // namespace ustack::shm
