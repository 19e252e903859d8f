//! `KvCache`: the paged key/value cache of attention and decoder layers
//! (`spinfer_kv_cache_t`, spinfer.h §7.3).
use std::os::raw::c_void;
use std::ptr;

use spinfer_sys as sys;

use crate::context::Context;
use crate::dtype::DType;
use crate::error::{check, Result};
use crate::ffi::{library_defaults, Handle};
use crate::shape::{from_c_count, sequence_count, to_c_int, to_i64};

/// Shape of a [`KvCache`]. `Default` gives the library's defaults; `num_layers`,
/// `num_kv_heads`, `head_dim` and `num_blocks` are 0 there and must be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvCacheConfig {
    /// Layers stored (>= 1).
    pub num_layers: usize,
    /// Key/value heads per layer (>= 1).
    pub num_kv_heads: usize,
    /// Elements per head (even, <= 256).
    pub head_dim: usize,
    /// Tokens per block (default 16).
    pub block_size: usize,
    /// Blocks in the pool (>= 1).
    pub num_blocks: usize,
    /// Sequence slots 0 .. max_sequences-1 (default 8).
    pub max_sequences: usize,
    /// Longest sequence (default 4096).
    pub max_sequence_length: usize,
    /// Stored element type (default F16; on CUDA the weights' dtype).
    pub dtype: DType,
}

impl Default for KvCacheConfig {
    fn default() -> Self {
        KvCacheConfig {
            num_layers: 0,
            num_kv_heads: 0,
            head_dim: 0,
            block_size: 16,
            num_blocks: 0,
            max_sequences: 8,
            max_sequence_length: 4096,
            dtype: DType::F16,
        }
    }
}

impl KvCacheConfig {
    fn to_raw(self) -> Result<sys::spinfer_kv_cache_config_t> {
        // SAFETY: plain data; the library sets struct_size and the defaults.
        let mut raw = unsafe { library_defaults(sys::spinfer_kv_cache_config_init) }?;
        raw.num_layers = to_c_int(self.num_layers, "num_layers")?;
        raw.num_kv_heads = to_c_int(self.num_kv_heads, "num_kv_heads")?;
        raw.head_dim = to_c_int(self.head_dim, "head_dim")?;
        raw.block_size = to_c_int(self.block_size, "block_size")?;
        raw.num_blocks = to_i64(self.num_blocks, "num_blocks")?;
        raw.max_sequences = to_c_int(self.max_sequences, "max_sequences")?;
        raw.max_sequence_length = to_i64(self.max_sequence_length, "max_sequence_length")?;
        raw.dtype = self.dtype.to_raw();
        Ok(raw)
    }
}

/// A paged key/value cache for several sequences and all layers of a model, owned by
/// Rust and destroyed on drop; it borrows its context (spinfer.h: destroy a cache
/// before its context). Memory is a pool of blocks; each sequence slot owns a list.
///
/// A step starts with [`KvCache::begin_step`]; then every attention or decoder-layer
/// forward on the cache, one per layer, processes that step's tokens.
///
/// spinfer.h: a cache is used by one thread at a time, so `KvCache` is `Send` but not
/// `Sync`, and calls that change it take `&mut self`:
///
/// ```compile_fail
/// fn sync<T: Sync>() {}
/// sync::<spinfer::KvCache<'static>>(); // error: `NonNull<..>` cannot be shared between threads
/// ```
#[derive(Debug)]
pub struct KvCache<'a> {
    raw: Handle<'a, sys::spinfer_kv_cache_t>,
    ctx: &'a Context,
}

// SAFETY: spinfer.h §7: one thread at a time, from any thread.
unsafe impl Send for KvCache<'_> {}

impl<'a> KvCache<'a> {
    /// A cache on the context's device (host memory for a host context).
    pub fn new(ctx: &'a Context, config: &KvCacheConfig) -> Result<KvCache<'a>> {
        let raw_config = config.to_raw()?;
        let mut out = ptr::null_mut();
        // SAFETY: live context, valid config and out pointers.
        check(unsafe { sys::spinfer_kv_cache_create(ctx.as_ptr(), &mut out, &raw_config) })?;
        // SAFETY: success gives a new handle we now own.
        let raw = unsafe { Handle::new(out, "cache") }?;
        Ok(KvCache { raw, ctx })
    }

    /// The context the cache was made on.
    pub fn context(&self) -> &'a Context {
        self.ctx
    }

    /// The C handle, for calls through `spinfer_sys`. It stays owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::spinfer_kv_cache_t {
        self.raw.as_ptr()
    }

    /// Starts a step: sequence `seq_ids[i]` receives `new_tokens[i]` (>= 1) new tokens
    /// (prefill: the prompt length; decode: 1), each sequence listed once. The
    /// following forwards process `sum(new_tokens)` tokens, sequence by sequence.
    /// OutOfMemory when the pool runs out (nothing changes then). Default stream.
    pub fn begin_step(&mut self, seq_ids: &[i32], new_tokens: &[i32]) -> Result<()> {
        // SAFETY: NULL is the default stream.
        unsafe { self.begin_step_on_stream(seq_ids, new_tokens, ptr::null_mut()) }
    }

    /// [`KvCache::begin_step`] uploading the step's layout on `stream` (CUDA).
    ///
    /// # Safety
    /// `stream` must be NULL or a live `cudaStream_t` of the context's device.
    pub unsafe fn begin_step_on_stream(
        &mut self,
        seq_ids: &[i32],
        new_tokens: &[i32],
        stream: *mut c_void,
    ) -> Result<()> {
        let count = sequence_count(seq_ids, new_tokens, "new_tokens")?;
        // SAFETY: both slices hold `count` elements.
        check(sys::spinfer_kv_cache_begin_step(
            self.as_ptr(),
            seq_ids.as_ptr(),
            new_tokens.as_ptr(),
            count,
            stream,
        ))
    }

    /// Tokens stored for sequence `seq`.
    pub fn sequence_length(&self, seq: i32) -> Result<usize> {
        let mut length = 0i64;
        // SAFETY: live handle, valid out pointer.
        check(unsafe { sys::spinfer_kv_cache_sequence_length(self.as_ptr(), seq, &mut length) })?;
        from_c_count(length, "sequence length")
    }

    /// Returns the blocks of sequence `seq` to the pool; its length becomes 0.
    pub fn release_sequence(&mut self, seq: i32) -> Result<()> {
        // SAFETY: live handle.
        check(unsafe { sys::spinfer_kv_cache_release_sequence(self.as_ptr(), seq) })
    }

    /// Unused blocks in the pool.
    pub fn free_blocks(&self) -> Result<usize> {
        let mut count = 0i64;
        // SAFETY: live handle, valid out pointer.
        check(unsafe { sys::spinfer_kv_cache_free_blocks(self.as_ptr(), &mut count) })?;
        from_c_count(count, "free blocks")
    }

    /// Destroys the cache now and reports the library's status.
    pub fn close(self) -> Result<()> {
        self.raw.close()
    }
}
