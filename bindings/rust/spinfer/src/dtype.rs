//! Element types: the `DType` enum of the C API, and the Rust types of host arrays
//! (`f32`, and the 16-bit [`F16`] and [`Bf16`], which Rust lacks as stable primitives).
use spinfer_sys as sys;

use crate::error::{Error, Result, Status};

/// Element type of dense arrays and of stored non-zeros (`spinfer_dtype_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE binary32 (dense host arrays only).
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16.
    BF16,
}

impl DType {
    /// The raw `spinfer_dtype_t`.
    pub fn to_raw(self) -> sys::spinfer_dtype_t {
        match self {
            DType::F32 => sys::SPINFER_DTYPE_F32,
            DType::F16 => sys::SPINFER_DTYPE_F16,
            DType::BF16 => sys::SPINFER_DTYPE_BF16,
        }
    }

    /// The dtype of a raw value the library reported.
    pub fn from_raw(raw: sys::spinfer_dtype_t) -> Result<DType> {
        match raw {
            sys::SPINFER_DTYPE_F32 => Ok(DType::F32),
            sys::SPINFER_DTYPE_F16 => Ok(DType::F16),
            sys::SPINFER_DTYPE_BF16 => Ok(DType::BF16),
            other => Err(Error::rust(
                Status::InternalError,
                format!("library reported unknown dtype {}", other),
            )),
        }
    }

    /// Size in bytes of one element (asks the library).
    pub fn size(self) -> usize {
        // SAFETY: no pointers involved.
        unsafe { sys::spinfer_dtype_size(self.to_raw()) }
    }
}

/// An IEEE binary16 number, stored as its bits. Converts to and from `f32` with
/// round-to-nearest-even, as the library does.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct F16(pub u16);

/// A bfloat16 number, stored as its bits. Converts to and from `f32` with
/// round-to-nearest-even, as the library does.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Bf16(pub u16);

impl F16 {
    /// Nearest binary16 (ties to even); overflow gives infinity, NaN stays NaN.
    pub fn from_f32(x: f32) -> F16 {
        F16(f32_to_f16_bits(x))
    }
    /// The exact `f32` value.
    pub fn to_f32(self) -> f32 {
        f16_bits_to_f32(self.0)
    }
}

impl Bf16 {
    /// Nearest bfloat16 (ties to even); NaN stays NaN.
    pub fn from_f32(x: f32) -> Bf16 {
        let bits = x.to_bits();
        if x.is_nan() {
            // Keep it a NaN even when the payload sits only in the dropped low bits.
            return Bf16(((bits >> 16) as u16) | 0x0040);
        }
        let round = 0x7fff + ((bits >> 16) & 1);
        Bf16((bits.wrapping_add(round) >> 16) as u16)
    }
    /// The exact `f32` value.
    pub fn to_f32(self) -> f32 {
        f32::from_bits((self.0 as u32) << 16)
    }
}

fn f32_to_f16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x007f_ffff;
    if exp == 0xff {
        // Infinity, or NaN forced quiet so that a payload in the dropped bits survives.
        let nan = if man != 0 {
            0x0200 | (man >> 13) as u16
        } else {
            0
        };
        return sign | 0x7c00 | nan;
    }
    let half_exp = exp - 127 + 15;
    if half_exp >= 0x1f {
        return sign | 0x7c00;
    }
    if half_exp >= 1 {
        // Normal result: keep 10 mantissa bits, round the 13 dropped ones; a carry
        // out of the mantissa correctly bumps the exponent (up to infinity).
        let h = ((half_exp as u32) << 10) | (man >> 13);
        let rest = man & 0x1fff;
        let up = rest > 0x1000 || (rest == 0x1000 && (h & 1) == 1);
        return sign | (h + up as u32) as u16;
    }
    // Subnormal or zero result: value = m24 * 2^(exp-150), unit of the result 2^-24.
    let shift = (14 - half_exp) as u32; // >= 14
    if shift > 24 {
        return sign; // below half the smallest subnormal (or a zero/f32 subnormal)
    }
    let m24 = man | 0x0080_0000;
    let h = m24 >> shift;
    let rest = m24 & ((1u32 << shift) - 1);
    let halfway = 1u32 << (shift - 1);
    let up = rest > halfway || (rest == halfway && (h & 1) == 1);
    sign | (h + up as u32) as u16
}

fn f16_bits_to_f32(h: u16) -> f32 {
    let sign = ((h as u32) & 0x8000) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x03ff) as u32;
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = man * 2^-24, exact in f32.
            let magnitude = man as f32 * f32::from_bits(0x3380_0000); // 2^-24
            return f32::from_bits(sign | magnitude.to_bits());
        }
        (0x1f, _) => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for super::F16 {}
    impl Sealed for super::Bf16 {}
}

/// A Rust type that can be a dense host array element: `f32`, [`F16`] or [`Bf16`].
/// The dtype passed to the library follows from the type, so a slice can never be
/// described with the wrong dtype.
pub trait Element: Copy + Default + sealed::Sealed + Send + Sync + 'static {
    /// The library dtype of this type.
    const DTYPE: DType;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
impl Element for F16 {
    const DTYPE: DType = DType::F16;
}
impl Element for Bf16 {
    const DTYPE: DType = DType::BF16;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_finite_f16_round_trips_through_f32() {
        for bits in 0..=u16::MAX {
            let h = F16(bits);
            let x = h.to_f32();
            if x.is_nan() {
                assert!(F16::from_f32(x).to_f32().is_nan(), "NaN {:#06x} lost", bits);
            } else {
                assert_eq!(F16::from_f32(x), h, "bits {:#06x} -> {} -> back", bits, x);
            }
        }
    }

    #[test]
    fn f16_to_f32_matches_the_definition_in_f64() {
        for bits in 0..0x7c00u16 {
            let exp = (bits >> 10) as i32;
            let man = (bits & 0x3ff) as f64;
            let expected = if exp == 0 {
                man * 2f64.powi(-24)
            } else {
                (1.0 + man / 1024.0) * 2f64.powi(exp - 15)
            };
            assert_eq!(F16(bits).to_f32() as f64, expected, "bits {:#06x}", bits);
            assert_eq!(F16(bits | 0x8000).to_f32() as f64, -expected);
        }
    }

    #[test]
    fn f16_rounds_to_nearest_even() {
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even 1.
        assert_eq!(F16::from_f32(1.0 + 2f32.powi(-11)), F16(0x3c00));
        // 1 + 3 * 2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9: goes up.
        assert_eq!(F16::from_f32(1.0 + 3.0 * 2f32.powi(-11)), F16(0x3c02));
        // Just above halfway rounds up.
        assert_eq!(
            F16::from_f32(1.0 + 2f32.powi(-11) + 2f32.powi(-20)),
            F16(0x3c01)
        );
        assert_eq!(F16::from_f32(65504.0), F16(0x7bff));
        assert_eq!(F16::from_f32(65520.0), F16(0x7c00)); // halfway to 2^16: infinity
        assert_eq!(F16::from_f32(2f32.powi(-24)), F16(0x0001));
        assert_eq!(F16::from_f32(2f32.powi(-25)), F16(0x0000)); // tie to even zero
        assert_eq!(F16::from_f32(1.5 * 2f32.powi(-25)), F16(0x0001));
        assert_eq!(F16::from_f32(3.0 * 2f32.powi(-25)), F16(0x0002)); // tie to even 2
        assert_eq!(F16::from_f32(-0.0), F16(0x8000));
        assert!(F16::from_f32(f32::NAN).to_f32().is_nan());
        assert_eq!(F16::from_f32(f32::NEG_INFINITY), F16(0xfc00));
    }

    #[test]
    fn bf16_rounds_to_nearest_even() {
        assert_eq!(Bf16::from_f32(1.0), Bf16(0x3f80));
        assert_eq!(Bf16::from_f32(f32::from_bits(0x3f80_8000)), Bf16(0x3f80)); // tie, even
        assert_eq!(Bf16::from_f32(f32::from_bits(0x3f81_8000)), Bf16(0x3f82)); // tie, odd
        assert_eq!(Bf16::from_f32(f32::from_bits(0x3f80_8001)), Bf16(0x3f81));
        assert!(Bf16::from_f32(f32::from_bits(0x7f80_0001))
            .to_f32()
            .is_nan());
        for bits in 0..=u16::MAX {
            let b = Bf16(bits);
            if !b.to_f32().is_nan() {
                assert_eq!(Bf16::from_f32(b.to_f32()), b);
            }
        }
    }

    #[test]
    fn dtype_sizes_come_from_the_library() {
        assert_eq!(DType::F32.size(), 4);
        assert_eq!(DType::F16.size(), 2);
        assert_eq!(DType::BF16.size(), 2);
    }
}
