//! The few librrd calls C's `update_rrd_data` makes (Debian `librrd-dev`,
//! librrd 1.7): create, update, and the rrdcached client. Declared by hand
//! instead of through the `rrd` crate: five functions do not justify a
//! bindgen/libclang build dependency, and the crate does not wrap the
//! `rrdc_*` client C uses.

use std::ffi::{c_char, c_int, c_ulong, CStr, CString};

#[link(name = "rrd")]
extern "C" {
    fn rrd_create_r(
        filename: *const c_char,
        pdp_step: c_ulong,
        last_up: libc::time_t,
        argc: c_int,
        argv: *const *const c_char,
    ) -> c_int;
    fn rrd_update_r(
        filename: *const c_char,
        template: *const c_char,
        argc: c_int,
        argv: *const *const c_char,
    ) -> c_int;
    fn rrd_get_error() -> *const c_char;
    fn rrd_clear_error();
    fn rrdc_connect(addr: *const c_char) -> c_int;
    fn rrdc_disconnect() -> c_int;
    fn rrdc_update(
        filename: *const c_char,
        values_num: c_int,
        values: *const *const c_char,
    ) -> c_int;
}

/// librrd's error text of this thread (its context is thread-local).
fn last_error() -> String {
    // SAFETY: rrd_get_error returns a pointer into the thread's context,
    // NUL-terminated, valid until the next librrd call on this thread.
    let p = unsafe { rrd_get_error() };
    if p.is_null() {
        return "unknown librrd error".to_owned();
    }
    // SAFETY: see above; copied out before any other librrd call.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn c_string(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| "NUL byte in argument".to_owned())
}

/// `rrd_create_r(filename, step, start, defs)`.
pub fn create(filename: &str, step: u32, start: i64, defs: &[&str]) -> Result<(), String> {
    let file = c_string(filename)?;
    let owned: Vec<CString> = defs.iter().map(|d| c_string(d)).collect::<Result<_, _>>()?;
    let argv: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
    // SAFETY: all pointers are valid NUL-terminated strings that outlive
    // the call; argc matches argv.
    let rc = unsafe {
        rrd_clear_error();
        rrd_create_r(
            file.as_ptr(),
            c_ulong::from(step),
            start as libc::time_t,
            argv.len() as c_int,
            argv.as_ptr(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(last_error())
    }
}

/// `rrd_update_r(filename, NULL, 1, {arg})`.
pub fn update(filename: &str, arg: &str) -> Result<(), String> {
    let file = c_string(filename)?;
    let arg = c_string(arg)?;
    let argv = [arg.as_ptr()];
    // SAFETY: valid strings for the duration of the call, argc = 1.
    let rc = unsafe {
        rrd_clear_error();
        rrd_update_r(file.as_ptr(), std::ptr::null(), 1, argv.as_ptr())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(last_error())
    }
}

/// `rrdc_connect(addr)`: no-op if already connected to `addr`.
pub fn daemon_connect(addr: &str) -> bool {
    let Ok(a) = c_string(addr) else {
        return false;
    };
    // SAFETY: valid string; librrd serialises its global client.
    unsafe { rrdc_connect(a.as_ptr()) == 0 }
}

pub fn daemon_disconnect() {
    // SAFETY: no arguments; safe to call when not connected.
    unsafe {
        rrdc_disconnect();
    }
}

/// `rrdc_update(filename, 1, {arg})`: 0 or the daemon's status.
pub fn daemon_update(filename: &str, arg: &str) -> Result<(), i32> {
    let (Ok(file), Ok(arg)) = (c_string(filename), c_string(arg)) else {
        return Err(-1);
    };
    let argv = [arg.as_ptr()];
    // SAFETY: valid strings for the duration of the call, one value.
    let rc = unsafe { rrdc_update(file.as_ptr(), 1, argv.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(rc)
    }
}
