//! Size arithmetic shared by the slice-taking calls: what Rust must check itself
//! because the C API cannot see how long a slice is, and sizes and counts converted
//! to and from the C API's integer types.
use crate::error::{Error, Result, Status};

/// Elements a row-major `[rows, cols]` array with leading dimension `ld` spans:
/// `(rows - 1) * ld + cols` (0 when empty). Computed for any `ld`, so that the check
/// is memory-safe even when `ld < cols` (which the library then rejects by itself).
pub(crate) fn required_len(rows: usize, cols: usize, ld: usize) -> Result<usize> {
    if rows == 0 || cols == 0 {
        return Ok(0);
    }
    (rows - 1)
        .checked_mul(ld)
        .and_then(|n| n.checked_add(cols))
        .ok_or_else(|| {
            Error::rust(
                Status::InvalidArgument,
                format!("{} rows with ld {} overflow usize", rows, ld),
            )
        })
}

/// A size as the C API's int64_t.
pub(crate) fn to_i64(value: usize, what: &str) -> Result<i64> {
    to_c(value, what, "int64_t")
}

/// A count as the C API's `int`.
pub(crate) fn to_c_int(value: usize, what: &str) -> Result<i32> {
    to_c(value, what, "a C int")
}

/// `value` as the C integer type `I`, called `c_type` in the error.
fn to_c<I: TryFrom<usize>>(value: usize, what: &str, c_type: &str) -> Result<I> {
    I::try_from(value).map_err(|_| {
        Error::rust(
            Status::InvalidArgument,
            format!("{} = {} does not fit in {}", what, value, c_type),
        )
    })
}

/// A count the library reported, as usize.
pub(crate) fn from_c_count(value: i64, what: &str) -> Result<usize> {
    usize::try_from(value).map_err(|_| {
        Error::rust(
            Status::InternalError,
            format!("library reported {} = {}", what, value),
        )
    })
}

/// The entry count of `seq_ids` and of the per-sequence array `other` (named
/// `other_name`) that goes with it, as the C API's int; the two must be as long.
pub(crate) fn sequence_count(seq_ids: &[i32], other: &[i32], other_name: &str) -> Result<i32> {
    if seq_ids.len() != other.len() {
        return Err(Error::rust(
            Status::ShapeMismatch,
            format!(
                "seq_ids has {} entries but {} has {}",
                seq_ids.len(),
                other_name,
                other.len()
            ),
        ));
    }
    i32::try_from(seq_ids.len()).map_err(|_| {
        Error::rust(
            Status::InvalidArgument,
            "more sequences than a C int32 can count",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_len_spans_the_last_row_only_up_to_cols() {
        assert_eq!(required_len(5, 200, 200).unwrap(), 1000);
        assert_eq!(required_len(5, 200, 256).unwrap(), 4 * 256 + 200);
        assert_eq!(required_len(0, 200, 256).unwrap(), 0);
        assert_eq!(required_len(3, 0, 0).unwrap(), 0);
        assert_eq!(required_len(3, 10, 4).unwrap(), 18);
        assert_eq!(
            required_len(usize::MAX, 2, 2).unwrap_err().status(),
            Status::InvalidArgument
        );
    }

    #[test]
    fn to_i64_rejects_sizes_beyond_int64() {
        assert_eq!(to_i64(7, "n").unwrap(), 7);
        let err = to_i64(usize::MAX, "n").unwrap_err();
        assert_eq!(err.status(), Status::InvalidArgument);
        assert!(err.message().contains("n = "));
        assert!(!err.is_from_library());
    }
}
