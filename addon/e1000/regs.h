// 8254x register offsets and bits (8254x Family of Gigabit Ethernet
// Controllers Software Developer's Manual, chapter 13). Only what we use.
#pragma once
#include <cstdint>

namespace ustack::e1000::reg {

constexpr uint32_t CTRL = 0x0000, STATUS = 0x0008, EERD = 0x0014, MDIC = 0x0020;
constexpr uint32_t FCAL = 0x0028, FCAH = 0x002C, FCT = 0x0030, FCTTV = 0x0170;
constexpr uint32_t ICR = 0x00C0, ITR = 0x00C4, IMS = 0x00D0, IMC = 0x00D8;
constexpr uint32_t RCTL = 0x0100, TCTL = 0x0400, TIPG = 0x0410;
constexpr uint32_t RDBAL = 0x2800, RDBAH = 0x2804, RDLEN = 0x2808, RDH = 0x2810, RDT = 0x2818, RDTR = 0x2820;
constexpr uint32_t TDBAL = 0x3800, TDBAH = 0x3804, TDLEN = 0x3808, TDH = 0x3810, TDT = 0x3818, TIDV = 0x3820;
constexpr uint32_t RXCSUM = 0x5000, MTA = 0x5200, RAL0 = 0x5400, RAH0 = 0x5404;

// CTRL
constexpr uint32_t CTRL_FD = 1u << 0, CTRL_LRST = 1u << 3, CTRL_ASDE = 1u << 5, CTRL_SLU = 1u << 6, CTRL_ILOS = 1u << 7;
constexpr uint32_t CTRL_RST = 1u << 26, CTRL_VME = 1u << 30, CTRL_PHY_RST = 1u << 31;
// STATUS
constexpr uint32_t STATUS_FD = 1u << 0, STATUS_LU = 1u << 1;
// RCTL
constexpr uint32_t RCTL_EN = 1u << 1, RCTL_SBP = 1u << 2, RCTL_UPE = 1u << 3, RCTL_MPE = 1u << 4, RCTL_BAM = 1u << 15;
constexpr uint32_t RCTL_SECRC = 1u << 26;  // BSIZE 00 = 2048 bytes
// TCTL
constexpr uint32_t TCTL_EN = 1u << 1, TCTL_PSP = 1u << 3, TCTL_RTLC = 1u << 24;
constexpr uint32_t TCTL_CT_SHIFT = 4, TCTL_COLD_SHIFT = 12;
// Interrupt causes
constexpr uint32_t ICR_TXDW = 1u << 0, ICR_LSC = 1u << 2, ICR_RXDMT0 = 1u << 4, ICR_RXO = 1u << 6, ICR_RXT0 = 1u << 7;
// MDIC
constexpr uint32_t MDIC_OP_WRITE = 1u << 26, MDIC_OP_READ = 2u << 26, MDIC_READY = 1u << 28, MDIC_ERROR = 1u << 30;
constexpr uint32_t PHY_BMCR = 0, BMCR_LOOPBACK = 1u << 14, BMCR_SPEED1000 = 1u << 6, BMCR_FULL_DUPLEX = 1u << 8;
constexpr uint32_t BMCR_ANENABLE = 1u << 12;

// Descriptor bits
constexpr uint8_t RXD_DD = 0x01, RXD_EOP = 0x02;
constexpr uint8_t RXE_CE = 0x01, RXE_SE = 0x02, RXE_SEQ = 0x04, RXE_CXE = 0x10, RXE_RXE = 0x80;
constexpr uint8_t TXD_CMD_EOP = 0x01, TXD_CMD_IFCS = 0x02, TXD_CMD_IC = 0x04, TXD_CMD_RS = 0x08, TXD_CMD_TSE = 0x04;
constexpr uint8_t TXD_CMD_DEXT = 0x20, TXD_CMD_IDE = 0x80;
constexpr uint8_t TXD_STA_DD = 0x01;
constexpr uint32_t TXD_DTYP_D = 1u << 20;  // data (extended) descriptor; context is 0
constexpr uint8_t TUCMD_TCP = 0x01, TUCMD_IP = 0x02;
constexpr uint8_t POPTS_IXSM = 0x01, POPTS_TXSM = 0x02;

// Statistics (clear on read).
struct StatReg {
  const char* name;
  uint32_t off;
  bool wide;  // 64-bit low/high pair
};
constexpr StatReg kStats[] = {
    {"hwCrcErrors", 0x4000, false},     {"hwAlignErrors", 0x4004, false},    {"hwSymbolErrors", 0x4008, false},
    {"hwRxErrors", 0x400C, false},      {"hwMissedPackets", 0x4010, false},  {"hwCollisions", 0x4028, false},
    {"hwRxGoodPackets", 0x4074, false}, {"hwRxBroadcast", 0x4078, false},    {"hwRxMulticast", 0x407C, false},
    {"hwTxGoodPackets", 0x4080, false}, {"hwRxGoodOctets", 0x4088, true},    {"hwTxGoodOctets", 0x4090, true},
    {"hwRxNoBuffers", 0x40A0, false},   {"hwRxUndersize", 0x40A4, false},    {"hwRxFragments", 0x40A8, false},
    {"hwRxOversize", 0x40AC, false},    {"hwRxJabber", 0x40B0, false},       {"hwRxTotalPackets", 0x40D0, false},
    {"hwTxTotalPackets", 0x40D4, false}, {"hwTxBroadcast", 0x40F4, false},   {"hwTsoContexts", 0x40F8, false},
};
constexpr int kStatCount = sizeof(kStats) / sizeof(kStats[0]);

}  // namespace ustack::e1000::reg
