//! `Model`: a decoder-only language model (OPT or LLaMA family) with its own KV cache
//! (`spinfer_model_t`, spinfer.h §7.6).
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use spinfer_sys as sys;

use crate::context::Context;
use crate::dtype::DType;
use crate::error::{check, Error, Result, Status};
use crate::ffi::{library_defaults, Handle};
use crate::layer_common::Arch;
use crate::shape::{from_c_count, sequence_count, to_c_int, to_i64};

/// Runtime options of [`Model::load`]. `Default` gives the library's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelConfig {
    /// Sequence slots of the KV cache (default 8).
    pub max_sequences: usize,
    /// Most tokens in one prefill or decode call (default 512).
    pub max_batch_tokens: usize,
    /// 0 (default) = the model's max_position_embeddings.
    pub max_sequence_length: usize,
    /// Tokens per KV block (default 16).
    pub kv_block_size: usize,
    /// 0 (default) = enough for every slot at full length.
    pub kv_num_blocks: usize,
    /// CUDA: replay decode steps from CUDA graphs (default true).
    pub use_cuda_graphs: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            max_sequences: 8,
            max_batch_tokens: 512,
            max_sequence_length: 0,
            kv_block_size: 16,
            kv_num_blocks: 0,
            use_cuda_graphs: true,
        }
    }
}

impl ModelConfig {
    fn to_raw(self) -> Result<sys::spinfer_model_config_t> {
        // SAFETY: plain data; the library sets struct_size and the defaults.
        let mut raw = unsafe { library_defaults(sys::spinfer_model_config_init) }?;
        raw.max_sequences = to_c_int(self.max_sequences, "max_sequences")?;
        raw.max_batch_tokens = to_i64(self.max_batch_tokens, "max_batch_tokens")?;
        raw.max_sequence_length = to_i64(self.max_sequence_length, "max_sequence_length")?;
        raw.kv_block_size = to_c_int(self.kv_block_size, "kv_block_size")?;
        raw.kv_num_blocks = to_i64(self.kv_num_blocks, "kv_num_blocks")?;
        raw.use_cuda_graphs = self.use_cuda_graphs as i32;
        Ok(raw)
    }
}

/// Facts about a loaded model (`spinfer_model_info_t`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// Family.
    pub arch: Arch,
    /// Tokens of the vocabulary: the length of one logits row.
    pub vocab_size: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// MLP inner size.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
    /// Elements per head.
    pub head_dim: usize,
    /// Longest position the model knows.
    pub max_position_embeddings: usize,
    /// Storage dtype of the weights.
    pub dtype: DType,
    /// Encoded matrices + dense tensors, as loaded.
    pub weight_bytes: u64,
    /// The same model with every matrix dense (2 bytes/element).
    pub dense_weight_bytes: u64,
    /// KV cache pool.
    pub kv_cache_bytes: u64,
    /// Tokens the KV cache holds, all sequences together.
    pub kv_cache_tokens: usize,
}

/// A decoder-only language model, owned by Rust and destroyed on drop (with its
/// matrices and KV cache); it borrows the context it was loaded on (spinfer.h:
/// destroy a model before its context):
///
/// ```compile_fail,E0505
/// let ctx = spinfer::Context::host().unwrap();
/// let model = spinfer::Model::load(&ctx, "/no/such/model", None).unwrap();
/// drop(ctx); // error[E0505]: cannot move out of `ctx` because it is borrowed
/// let _ = model.info();
/// ```
///
/// Tokens and logits are host data on every backend. A model is used by one thread
/// at a time: `Send`, not `Sync`; the calls that run it take `&mut self`.
#[derive(Debug)]
pub struct Model<'a> {
    raw: Handle<'a, sys::spinfer_model_t>,
    ctx: &'a Context,
    info: ModelInfo,
}

// SAFETY: spinfer.h §7: one thread at a time, from any thread.
unsafe impl Send for Model<'_> {}

impl<'a> Model<'a> {
    /// Loads the model in directory `dir` (a Hugging Face `config.json` of model_type
    /// "opt" or "llama"/"mistral" and safetensors files with spinfer matrices and dense
    /// tensors under Hugging Face names; tools/spinfer_convert.py writes one) onto the
    /// context's device. `config` None = the defaults. Bad or missing fields give
    /// CorruptData / NotFound naming the field.
    pub fn load<P: AsRef<Path>>(
        ctx: &'a Context,
        dir: P,
        config: Option<&ModelConfig>,
    ) -> Result<Model<'a>> {
        let dir = std::ffi::CString::new(dir.as_ref().as_os_str().as_bytes())
            .map_err(|_| Error::rust(Status::InvalidArgument, "dir contains a NUL byte"))?;
        let raw_config = config.copied().unwrap_or_default().to_raw()?;
        let mut out = ptr::null_mut();
        // SAFETY: live context, C string, config and out pointer.
        check(unsafe {
            sys::spinfer_model_load(
                ctx.as_ptr(),
                &mut out,
                dir.as_ptr(),
                &raw_config,
                ptr::null_mut(),
            )
        })?;
        // SAFETY: success gives a new handle we now own; owned first, so that a
        // failing info query still destroys it.
        let raw = unsafe { Handle::new(out, "model") }?;
        let info = query_info(&raw)?;
        Ok(Model { raw, ctx, info })
    }

    /// Facts about the model (sizes, dtype, bytes), read once at load.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The C handle, for calls through `spinfer_sys`. It stays owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::spinfer_model_t {
        self.raw.as_ptr()
    }

    /// Appends `tokens` to sequence `seq`, runs them, and returns the logits of the
    /// last token (`[vocab_size]`).
    pub fn prefill(&mut self, seq: i32, tokens: &[i32]) -> Result<Vec<f32>> {
        let mut logits = vec![0.0f32; self.info.vocab_size];
        self.prefill_into(seq, tokens, Some(&mut logits))?;
        Ok(logits)
    }

    /// [`Model::prefill`] writing the logits into `logits` (`[vocab_size]`), or
    /// skipping them (None: no host synchronisation on CUDA).
    pub fn prefill_into(
        &mut self,
        seq: i32,
        tokens: &[i32],
        logits: Option<&mut [f32]>,
    ) -> Result<()> {
        let logits = self.logits_ptr(logits, 1)?;
        // SAFETY: `tokens` holds `count` ids; `logits` spans vocab_size floats or is NULL.
        check(unsafe {
            sys::spinfer_model_prefill(
                self.ctx.as_ptr(),
                self.as_ptr(),
                seq,
                tokens.as_ptr(),
                to_i64(tokens.len(), "token count")?,
                logits,
                ptr::null_mut(),
            )
        })
    }

    /// One decode step: `tokens[i]` is appended to sequence `seq_ids[i]` (each listed
    /// once); returns the next-token logits `[seq_ids.len(), vocab_size]`.
    pub fn decode_step(&mut self, seq_ids: &[i32], tokens: &[i32]) -> Result<Vec<f32>> {
        let mut logits = vec![0.0f32; self.logits_len(seq_ids.len())?];
        self.decode_step_into(seq_ids, tokens, Some(&mut logits))?;
        Ok(logits)
    }

    /// [`Model::decode_step`] writing the logits into `logits`
    /// (`[seq_ids.len(), vocab_size]`), or skipping them (None).
    pub fn decode_step_into(
        &mut self,
        seq_ids: &[i32],
        tokens: &[i32],
        logits: Option<&mut [f32]>,
    ) -> Result<()> {
        let count = sequence_count(seq_ids, tokens, "tokens")?;
        let logits = self.logits_ptr(logits, seq_ids.len())?;
        // SAFETY: both id slices hold `count` entries; `logits` spans count rows or is NULL.
        check(unsafe {
            sys::spinfer_model_decode_step(
                self.ctx.as_ptr(),
                self.as_ptr(),
                seq_ids.as_ptr(),
                tokens.as_ptr(),
                count,
                logits,
                ptr::null_mut(),
            )
        })
    }

    /// Greedy generation for sequence `seq`: prefill `prompt`, then up to
    /// `max_new_tokens` decode steps taking the arg-max token (lowest id on ties),
    /// stopping after `eos_token` (None: never). Returns the generated tokens.
    pub fn generate_greedy(
        &mut self,
        seq: i32,
        prompt: &[i32],
        max_new_tokens: usize,
        eos_token: Option<i32>,
    ) -> Result<Vec<i32>> {
        if eos_token.map_or(false, |t| t < 0) {
            return Err(Error::rust(
                Status::InvalidArgument,
                "eos_token must be a token id (>= 0); use None for no end-of-sequence token",
            ));
        }
        let mut out = vec![0i32; max_new_tokens];
        let mut generated = 0i64;
        // SAFETY: `prompt` holds prompt_length ids, `out` max_new_tokens slots.
        check(unsafe {
            sys::spinfer_model_generate_greedy(
                self.ctx.as_ptr(),
                self.as_ptr(),
                seq,
                prompt.as_ptr(),
                to_i64(prompt.len(), "prompt length")?,
                to_i64(max_new_tokens, "max_new_tokens")?,
                eos_token.unwrap_or(-1),
                out.as_mut_ptr(),
                &mut generated,
                ptr::null_mut(),
            )
        })?;
        let generated = from_c_count(generated, "generated")?;
        if generated > max_new_tokens {
            return Err(Error::rust(
                Status::InternalError,
                format!(
                    "library generated {} tokens, more than the {} asked for",
                    generated, max_new_tokens
                ),
            ));
        }
        out.truncate(generated);
        Ok(out)
    }

    /// Forgets sequence `seq`: its KV blocks return to the pool, its length becomes 0.
    pub fn release_sequence(&mut self, seq: i32) -> Result<()> {
        // SAFETY: live handle.
        check(unsafe { sys::spinfer_model_release_sequence(self.as_ptr(), seq) })
    }

    /// Current length of sequence `seq` in tokens.
    pub fn sequence_length(&self, seq: i32) -> Result<usize> {
        let mut length = 0i64;
        // SAFETY: live handle, valid out pointer.
        check(unsafe { sys::spinfer_model_sequence_length(self.as_ptr(), seq, &mut length) })?;
        from_c_count(length, "sequence length")
    }

    /// Destroys the model now and reports the library's status.
    pub fn close(self) -> Result<()> {
        self.raw.close()
    }

    /// Elements of `rows` rows of logits.
    fn logits_len(&self, rows: usize) -> Result<usize> {
        rows.checked_mul(self.info.vocab_size)
            .ok_or_else(|| Error::rust(Status::InvalidArgument, "logits size overflows usize"))
    }

    /// The logits pointer for `rows` rows, after checking the slice can hold them.
    fn logits_ptr(&self, logits: Option<&mut [f32]>, rows: usize) -> Result<*mut f32> {
        let logits = match logits {
            None => return Ok(ptr::null_mut()),
            Some(l) => l,
        };
        let need = self.logits_len(rows)?;
        if logits.len() < need {
            return Err(Error::rust(
                Status::ShapeMismatch,
                format!(
                    "logits has {} elements, but {} rows of vocab_size {} need {}",
                    logits.len(),
                    rows,
                    self.info.vocab_size,
                    need
                ),
            ));
        }
        Ok(logits.as_mut_ptr())
    }
}

/// Facts about a loaded model, from the library.
fn query_info(model: &Handle<'_, sys::spinfer_model_t>) -> Result<ModelInfo> {
    // SAFETY: plain data; the library fills it.
    let mut raw: sys::spinfer_model_info_t = unsafe { std::mem::zeroed() };
    raw.struct_size = std::mem::size_of::<sys::spinfer_model_info_t>();
    // SAFETY: live handle, valid out pointer.
    check(unsafe { sys::spinfer_model_get_info(model.as_ptr(), &mut raw) })?;
    let count = |v: i64, what: &str| from_c_count(v, what);
    Ok(ModelInfo {
        arch: Arch::from_raw(raw.arch)?,
        vocab_size: count(raw.vocab_size, "vocab_size")?,
        hidden_size: count(raw.hidden_size, "hidden_size")?,
        intermediate_size: count(raw.intermediate_size, "intermediate_size")?,
        num_layers: count(raw.num_layers, "num_layers")?,
        num_heads: count(raw.num_heads as i64, "num_heads")?,
        num_kv_heads: count(raw.num_kv_heads as i64, "num_kv_heads")?,
        head_dim: count(raw.head_dim as i64, "head_dim")?,
        max_position_embeddings: count(raw.max_position_embeddings, "max_position_embeddings")?,
        dtype: DType::from_raw(raw.dtype)?,
        weight_bytes: raw.weight_bytes,
        dense_weight_bytes: raw.dense_weight_bytes,
        kv_cache_bytes: raw.kv_cache_bytes,
        kv_cache_tokens: count(raw.kv_cache_tokens, "kv_cache_tokens")?,
    })
}
