// A small eBPF assembler: instructions as struct bpf_insn (linux/bpf.h, from
// linux-libc-dev, which every machine with a C library's headers has) and
// jumps to named labels, resolved once the program is complete. It knows
// only what program.cc uses; each builder says which instruction it emits.
//
// Why our own and not libbpf + clang: the program is about thirty
// instructions, a fresh machine has no clang, BPF target or libbpf-dev
// headers, and an object file built elsewhere would need an ELF loader.
#pragma once
#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ustack::xdp {

enum Reg : uint8_t { R0 = 0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 };

class Asm {
 public:
  // dst = src (64-bit)
  void mov(Reg dst, Reg src) { emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
  // dst = imm (64-bit, sign-extended)
  void mov(Reg dst, int32_t imm) { emit(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
  // dst += imm (64-bit)
  void add(Reg dst, int32_t imm) { emit(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm); }
  // dst += src (64-bit)
  void add(Reg dst, Reg src) { emit(BPF_ALU64 | BPF_ADD | BPF_X, dst, src, 0, 0); }
  // dst &= imm, dst <<= imm, dst |= src (64-bit)
  void and_(Reg dst, int32_t imm) { emit(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm); }
  void lsh(Reg dst, int32_t imm) { emit(BPF_ALU64 | BPF_LSH | BPF_K, dst, 0, 0, imm); }
  void or_(Reg dst, Reg src) { emit(BPF_ALU64 | BPF_OR | BPF_X, dst, src, 0, 0); }
  // dst = *(size *)(src + off); size is BPF_B, BPF_H, BPF_W or BPF_DW
  void ldx(uint8_t size, Reg dst, Reg src, int16_t off) { emit(BPF_LDX | BPF_MEM | size, dst, src, off, 0); }
  // *(size *)(dst + off) = src
  void stx(uint8_t size, Reg dst, int16_t off, Reg src) { emit(BPF_STX | BPF_MEM | size, dst, src, off, 0); }
  // lock *(u64 *)(dst + off) += src  (BPF_ATOMIC BPF_ADD, the old XADD)
  void atomic_add64(Reg dst, int16_t off, Reg src) { emit(BPF_STX | BPF_ATOMIC | BPF_DW, dst, src, off, BPF_ADD); }
  // dst = the map behind file descriptor `fd` (two instructions: ld_imm64 with BPF_PSEUDO_MAP_FD)
  void ld_map_fd(Reg dst, int fd) {
    emit(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd);
    emit(0, 0, 0, 0, 0);
  }
  void call(int32_t helper) { emit(BPF_JMP | BPF_CALL, 0, 0, 0, helper); }
  void exit() { emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }
  // goto label
  void ja(const std::string& label) { jump(BPF_JMP | BPF_JA, 0, 0, 0, label); }
  // if dst OP imm goto label; op is BPF_JEQ, BPF_JNE, ...
  void jmp(uint8_t op, Reg dst, int32_t imm, const std::string& label) { jump(BPF_JMP | op | BPF_K, dst, 0, imm, label); }
  // if dst OP src goto label
  void jmp(uint8_t op, Reg dst, Reg src, const std::string& label) { jump(BPF_JMP | op | BPF_X, dst, src, 0, label); }

  // The next instruction is `name`. A label is defined once.
  void label(const std::string& name);

  // The instructions with every jump resolved. False (with *why set) when a
  // label is missing or defined twice, or a jump does not fit 16 bits.
  bool finish(std::vector<bpf_insn>* out, std::string* why) const;

 private:
  struct Fixup {
    size_t at;
    std::string label;
  };
  struct Label {
    std::string name;
    size_t at;
  };
  void emit(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    insns_.push_back(i);
  }
  void jump(uint8_t code, uint8_t dst, uint8_t src, int32_t imm, const std::string& label) {
    fixups_.push_back({insns_.size(), label});
    emit(code, dst, src, 0, imm);
  }

  std::vector<bpf_insn> insns_;
  std::vector<Fixup> fixups_;
  std::vector<Label> labels_;
};

}  // namespace ustack::xdp
