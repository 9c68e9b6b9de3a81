//! Whether the CUDA libraries that the `cuda` build loads at run time are present.
//!
//! cubecl loads the driver (`libcuda.so`) and NVRTC (`libnvrtc.so`) when the first tensor is
//! made, and panics from a worker thread when one is missing. [`check_cuda`] looks for them first,
//! so that a machine without a GPU or toolkit gets an error instead.

use crate::error::Result;

/// Ok when the CUDA driver and NVRTC libraries can be loaded; the CUDA backend's
/// [`crate::ReaderBackend::check_available`].
#[allow(unsafe_code)]
pub fn check_cuda() -> Result<()> {
    // SAFETY: both functions only try `dlopen` on the library names cudarc would load anyway
    // (and close them again); no symbol is called.
    let driver = unsafe { cudarc::driver::sys::is_culib_present() };
    let nvrtc = unsafe { cudarc::nvrtc::sys::is_culib_present() };
    let missing: Vec<&str> = [
        (driver, "the NVIDIA driver (libcuda.so)"),
        (nvrtc, "NVRTC (libnvrtc.so, CUDA toolkit)"),
    ]
    .into_iter()
    .filter(|(present, _)| !present)
    .map(|(_, name)| name)
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(crate::error::ReaderError::NoGpu(format!(
            "this odqa is built with CUDA, but {} cannot be loaded here (is there a GPU? is \
             LD_LIBRARY_PATH set?); use a build without --features cuda on this machine",
            missing.join(" and ")
        )))
    }
}
