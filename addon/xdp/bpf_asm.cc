#include "xdp/bpf_asm.h"

namespace ustack::xdp {

void Asm::label(const std::string& name) { labels_.push_back({name, insns_.size()}); }

bool Asm::finish(std::vector<bpf_insn>* out, std::string* why) const {
  for (size_t i = 0; i < labels_.size(); i++) {
    for (size_t j = i + 1; j < labels_.size(); j++) {
      if (labels_[i].name == labels_[j].name) {
        *why = "label '" + labels_[i].name + "' defined twice";
        return false;
      }
    }
  }
  *out = insns_;
  for (const Fixup& f : fixups_) {
    const Label* target = nullptr;
    for (const Label& l : labels_) {
      if (l.name == f.label) target = &l;
    }
    if (target == nullptr) {
      *why = "jump to undefined label '" + f.label + "'";
      return false;
    }
    // A jump's offset counts from the instruction after it.
    long off = static_cast<long>(target->at) - static_cast<long>(f.at) - 1;
    if (off < INT16_MIN || off > INT16_MAX) {
      *why = "jump to '" + f.label + "' does not fit 16 bits";
      return false;
    }
    (*out)[f.at].off = static_cast<int16_t>(off);
  }
  return true;
}

}  // namespace ustack::xdp
