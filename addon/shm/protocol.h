// What the words of a ring entry mean (ring.h carries them). One protocol
// for both directions, read by owner.h and port.h:
//
// Down ring, owner -> worker:
//   kDownFrame   w0 slot, w1 type|len, w2 receive flags, w3 the frame's RSS hash
//                a received frame, in an owner slot the worker now holds
//   kDownReturn  w0 slot, w1 type
//                a slot of the worker's own partition, back from transmit
//                (or handed out when the worker joins): onto its free stack
// Up ring, worker -> owner:
//   kUpFrame     w0 slot, w1 type|len          a frame to send, from any slot the worker holds
//   kUpRelease   w0 slot, w1 type              an owner slot the worker is done with
//   kUpFlowAdd   w0 remote addr, w1 type|proto, w2 remote port << 16 | local port, w3 local addr
//   kUpFlowDel   the same words: a connection the worker opened or closed
//                (the owner pins / unpins it, flow_table.h)
#pragma once
#include <cstdint>

#include "shm/ring.h"

namespace ustack::shm {

constexpr uint32_t kTypeShift = 24;
constexpr uint32_t kLenMask = 0x00ffffffu;

enum : uint32_t { kDownFrame = 1, kDownReturn = 2 };
enum : uint32_t { kUpFrame = 1, kUpRelease = 2, kUpFlowAdd = 3, kUpFlowDel = 4 };

inline uint32_t entry_type(const Entry& e) { return e.w1 >> kTypeShift; }
inline uint32_t entry_len(const Entry& e) { return e.w1 & kLenMask; }
inline uint32_t type_word(uint32_t type, uint32_t low) { return (type << kTypeShift) | (low & kLenMask); }

}  // namespace ustack::shm
