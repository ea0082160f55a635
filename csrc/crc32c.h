/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every WAL frame.
 *
 * crc32c_extend() picks, once per process, the SSE4.2 crc32 instruction when the CPU has it (long buffers as three
 * interleaved lanes joined by a linear shift) and a slice-by-8 table otherwise, so one binary runs on every x86-64
 * (and on other architectures through the table). */
#ifndef RAFTSTORE_CRC32C_H
#define RAFTSTORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of `len` bytes appended to data whose CRC is `crc` (0 for no data): crc32c_extend(0, "123456789", 9) is
 * 0xE3069283. */
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len);

/* crc[k] = crc32c_extend(crc[k], data[k], len) for k = 0, 1, 2, computed together: three independent chains keep the
 * CPU's crc32 unit busy where one chain would wait on each instruction's latency (the WAL checksums three entry
 * frames at a time). */
void crc32c_extend3(uint32_t crc[3], const void *const data[3], size_t len);

/* The table implementation, always available (tests compare it with the dispatched one). */
uint32_t crc32c_extend_sw(uint32_t crc, const void *data, size_t len);

/* 1 when crc32c_extend() uses the CPU instruction. */
int crc32c_hw_available(void);

#endif
