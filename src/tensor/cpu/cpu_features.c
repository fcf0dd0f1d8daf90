/*
 * cpu_features.c - which SIMD kernel table this CPU and OS can run: CPUID
 * for the instruction sets, XGETBV for whether the OS saves the wider register
 * state (YMM for AVX2; opmask and ZMM for AVX-512). Non-x86 builds: scalar.
 */
#include "tensor/cpu/kernels.h"

#ifdef CLLM_X86
#include <cpuid.h>

#define XCR0_SSE_AVX 0x06u     /* XMM and YMM state */
#define XCR0_AVX512 0xe0u      /* opmask, ZMM_Hi256, Hi16_ZMM state */

static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static int bit(uint32_t reg, int n) { return (reg >> n) & 1; }

enum cpu_isa cpu_isa_detect(void)
{
    uint32_t eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return CPU_ISA_SCALAR;
    int fma = bit(ecx, 12), osxsave = bit(ecx, 27), avx = bit(ecx, 28), f16c = bit(ecx, 29);
    if (!osxsave || !avx || !fma || !f16c)
        return CPU_ISA_SCALAR;
    uint64_t xcr0 = read_xcr0();
    if ((xcr0 & XCR0_SSE_AVX) != XCR0_SSE_AVX)
        return CPU_ISA_SCALAR;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
        return CPU_ISA_SCALAR;
    if (!bit(ebx, 5)) /* AVX2 */
        return CPU_ISA_SCALAR;
    int avx512 = bit(ebx, 16) && bit(ebx, 17) && bit(ebx, 30) && bit(ebx, 31) /* F DQ BW VL */
              && bit(ecx, 11)                                                   /* VNNI */
              && (xcr0 & XCR0_AVX512) == XCR0_AVX512;
    return avx512 ? CPU_ISA_AVX512 : CPU_ISA_AVX2;
}

#else

enum cpu_isa cpu_isa_detect(void) { return CPU_ISA_SCALAR; }

#endif
