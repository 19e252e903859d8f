//! Size arithmetic shared by the slice-taking calls: what Rust must check itself
//! because the C API cannot see how long a slice is.
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
    i64::try_from(value).map_err(|_| {
        Error::rust(
            Status::InvalidArgument,
            format!("{} = {} does not fit in int64_t", what, value),
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
