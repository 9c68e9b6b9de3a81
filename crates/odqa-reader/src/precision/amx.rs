//! Intel AMX (Advanced Matrix Extensions) bf16 tile products, through `core::arch::asm!` (the
//! AMX intrinsics are not stable in Rust yet).
//!
//! The eight tile registers are configured once per task as 16 rows × 64 bytes: `tmm0..3` hold
//! a 32 × 32 block of f32 sums, `tmm4`/`tmm5` two 16 × 32 bf16 blocks of the activations and
//! `tmm6`/`tmm7` two 32 × 16 bf16 blocks of the weights in the pair layout of `tdpbf16ps`
//! ([`super::bf16::Bf16Weights`]). Linux hands out the tile state only to a process that asks
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`), which [`available`] does once.

use std::arch::asm;
use std::sync::OnceLock;

use super::bf16::{Line, LINE};

/// `arch_prctl` code asking for an extended state component.
const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
/// The AMX tile data state component.
const XFEATURE_XTILEDATA: libc::c_long = 18;

/// True when this CPU has AMX-TILE and AMX-BF16 (CPUID leaf 7, EDX bits 24 and 22) and the
/// kernel granted this process the tile state; asked once per process.
pub fn available() -> bool {
    static GRANTED: OnceLock<bool> = OnceLock::new();
    *GRANTED.get_or_init(|| cpu_has_amx_bf16() && request_tile_state())
}

fn cpu_has_amx_bf16() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    if __cpuid(0).eax < 7 {
        return false;
    }
    let edx = __cpuid_count(7, 0).edx;
    edx & (1 << 24) != 0 && edx & (1 << 22) != 0
}

fn request_tile_state() -> bool {
    // SAFETY: `arch_prctl(ARCH_REQ_XCOMP_PERM, 18)` only changes which state components this
    // process may use; it reads and writes no memory of ours. It fails (non-zero) on kernels
    // without AMX support, which then leaves the tiles unused.
    #[allow(unsafe_code)]
    let status = unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        )
    };
    status == 0
}

/// The 64-byte tile configuration of `ldtilecfg` (palette 1).
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

/// The rows of one output block: two tiles of 16.
pub(super) const BLOCK_ROWS: usize = 32;
/// The columns of one output block: two tiles of 16.
pub(super) const BLOCK_COLS: usize = 32;

/// A configured tile state, released when dropped. Only [`Tiles::configure`] makes one, after
/// [`available`] said yes.
pub(super) struct Tiles(());

impl Tiles {
    /// Configures the eight tiles as 16 rows × 64 bytes on this thread; `None` when AMX is not
    /// available.
    pub(super) fn configure() -> Option<Tiles> {
        if !available() {
            return None;
        }
        let config = TileConfig {
            palette: 1,
            start_row: 0,
            reserved: [0; 14],
            colsb: [[64; 8], [0; 8]].concat().try_into().ok()?,
            rows: [[16; 8], [0; 8]].concat().try_into().ok()?,
        };
        // SAFETY: AMX is available and this process holds the tile state (`available`); the
        // configuration is a valid palette-1 layout (8 tiles of 16 × 64 bytes), read from a
        // 64-byte aligned struct that lives across the instruction.
        #[allow(unsafe_code)]
        unsafe {
            asm!("ldtilecfg [{}]", in(reg) &config, options(nostack, readonly));
        }
        Some(Tiles(()))
    }

    /// `out = a · b` for one 32 × 32 block: `a` is 32 rows of `k_blocks` bf16 lines (32 values
    /// per line, one row every `k_blocks` lines), `b0` and `b1` the `k_blocks` pair-layout tiles
    /// of two 16-column slices of the weights (16 lines per tile). `out` gets 32 rows of 32 f32.
    ///
    /// # Panics
    /// When a slice is shorter than those shapes.
    pub(super) fn block(&self, a: &[Line], b0: &[Line], b1: &[Line], out: &mut [f32; 1024]) {
        let k_blocks = b0.len() / 16;
        assert!(
            a.len() >= BLOCK_ROWS * k_blocks && b0.len() == b1.len() && b0.len() == 16 * k_blocks,
            "amx block: operands too short"
        );
        let a_stride = k_blocks * LINE * 2;
        let line_bytes = LINE * 2;
        // SAFETY: the tiles are configured on this thread (`self` exists only after
        // `configure`). Every tile load reads 16 rows of 64 bytes: the activation loads start at
        // line `i` of rows 0 or 16 and step one row (`k_blocks` lines) at a time, inside the
        // 32·k_blocks lines asserted above; the weight loads read tile `i` (16 consecutive lines)
        // of `b0`/`b1`. The stores write 16 rows of 64 bytes at a row stride of 128 bytes into
        // the 4 KiB `out`: tiles at byte offsets 0, 64, 2048 and 2112, the last ending at byte 4096.
        #[allow(unsafe_code)]
        unsafe {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack, nomem)
            );
            for i in 0..k_blocks {
                let a0 = a.as_ptr().add(i);
                let a1 = a.as_ptr().add(16 * k_blocks + i);
                asm!(
                    "tileloadd tmm4, [{a0} + {sa}*1]",
                    "tileloadd tmm5, [{a1} + {sa}*1]",
                    "tileloadd tmm6, [{b0} + {sb}*1]",
                    "tileloadd tmm7, [{b1} + {sb}*1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    a0 = in(reg) a0,
                    a1 = in(reg) a1,
                    b0 = in(reg) b0.as_ptr().add(16 * i),
                    b1 = in(reg) b1.as_ptr().add(16 * i),
                    sa = in(reg) a_stride,
                    sb = in(reg) line_bytes,
                    options(nostack, readonly)
                );
            }
            let c = out.as_mut_ptr();
            asm!(
                "tilestored [{c0} + {s}*1], tmm0",
                "tilestored [{c1} + {s}*1], tmm1",
                "tilestored [{c2} + {s}*1], tmm2",
                "tilestored [{c3} + {s}*1], tmm3",
                c0 = in(reg) c,
                c1 = in(reg) c.add(16),
                c2 = in(reg) c.add(16 * 32),
                c3 = in(reg) c.add(16 * 32 + 16),
                s = in(reg) BLOCK_COLS * 4,
                options(nostack)
            );
        }
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        // SAFETY: releasing the tile state is always allowed once configured; it only returns
        // the tiles to their initial state (so a context switch saves less).
        #[allow(unsafe_code)]
        unsafe {
            asm!("tilerelease", options(nostack, nomem));
        }
    }
}
