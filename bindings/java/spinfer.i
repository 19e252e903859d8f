/*
 * spinfer.i -- SWIG interface that generates the low-level JNI layer (package
 * io.spinfer.jni) straight from capi/include/spinfer.h, the single source of truth.
 *
 * The generated layer is deliberately thin and mechanical; io.spinfer (hand-written)
 * turns it into idiomatic Java. Mapping rules, all decided here:
 *   - Functions lose their "spinfer_" prefix: spinfer_spmm -> SpinferNative.spmm.
 *   - C enums become Java enums (spinfer_status_t, spinfer_dtype_t, ...).
 *   - Opaque handles (context, matrix, layers, KV cache, model) are Java longs holding
 *     the C pointer; output handles (T**) are long[] of length >= 1.
 *   - Data pointers (void*, const void*, uint16_t/uint64_t/int32_t/float arrays:
 *     values, bitmaps, token ids, logits) and streams are
 *     Java longs holding an address (host or device). directBufferAddress() gives the
 *     address of a direct NIO buffer; keeping the buffer reachable and large enough
 *     is the caller's job (the io.spinfer layer does both).
 *   - Scalar outputs (size_t*, int64_t*, spinfer_backend_t*) are long[] / int[] of
 *     length >= 1.
 *   - uint64_t is a Java long (values never reach 2^63 in practice).
 *   - Config/info structs are SWIG proxy classes with getters and setters.
 */
%module(jniclassname="SpinferNativeJNI") SpinferNative

%include <stdint.i>
%include <enums.swg>

%{
#include <stdint.h>
#include "spinfer.h"
%}

#define SPINFER_API

/* Strip the C prefix from functions only; enums and structs keep their C names. */
%rename("%(strip:[spinfer_])s", %$isfunction) "";

/* Constants and enum values as Java compile-time constants (no JNI call to read them). */
%javaconst(1);

/* The JNI class loads the native library before its first native call. */
%pragma(java) jniclasscode=%{
  /** Name of the JNI library: libspinfer_jni.so on Linux. */
  public static final String LIBRARY_NAME = "spinfer_jni";
  /** System property naming the JNI library file, or the directory that holds it. */
  public static final String LIBRARY_PATH_PROPERTY = "spinfer.library.path";

  static {
    String path = System.getProperty(LIBRARY_PATH_PROPERTY);
    try {
      if (path != null && !path.isEmpty()) {
        java.io.File file = new java.io.File(path);
        if (file.isDirectory()) file = new java.io.File(file, System.mapLibraryName(LIBRARY_NAME));
        System.load(file.getAbsolutePath());
      } else {
        System.loadLibrary(LIBRARY_NAME);
      }
    } catch (UnsatisfiedLinkError e) {
      UnsatisfiedLinkError better = new UnsatisfiedLinkError("spinfer: cannot load the JNI library "
          + System.mapLibraryName(LIBRARY_NAME) + " (" + e.getMessage() + "); set -D"
          + LIBRARY_PATH_PROPERTY + "=<file or directory> or -Djava.library.path=<directory>");
      better.initCause(e);
      throw better;
    }
  }
%}

/* With SWIGWORDSIZE64 (LP64, set by CMakeLists.txt) SWIG would map int64_t, a C long,
   to a Java int: force 64-bit Java longs for both fixed-width types. */
%apply long long { int64_t };
%apply long long { uint64_t };

/* Config, weights and info structs start with struct_size: the Java constructors fill
   the library's defaults (or just struct_size for info structs), so a proxy is always
   ready for the call that takes it. */
%define SPINFER_DEFAULT_CONSTRUCTOR(TYPE, INIT)
%extend TYPE {
  TYPE() {
    TYPE* self = new TYPE();
    INIT(self);
    return self;
  }
}
%enddef
%define SPINFER_INFO_CONSTRUCTOR(TYPE)
%extend TYPE {
  TYPE() {
    TYPE* self = new TYPE();
    self->struct_size = sizeof(TYPE);
    return self;
  }
}
%enddef
SPINFER_DEFAULT_CONSTRUCTOR(spinfer_matrix_info_t, spinfer_matrix_info_init)
SPINFER_INFO_CONSTRUCTOR(spinfer_model_info_t)
SPINFER_INFO_CONSTRUCTOR(spinfer_spmm_plan_t)
SPINFER_DEFAULT_CONSTRUCTOR(spinfer_context_config_t, spinfer_context_config_init)
SPINFER_DEFAULT_CONSTRUCTOR(spinfer_spmm_options_t, spinfer_spmm_options_init)
SPINFER_DEFAULT_CONSTRUCTOR(spinfer_linear_config_t, spinfer_linear_config_init)
SPINFER_DEFAULT_CONSTRUCTOR(spinfer_mlp_config_t, spinfer_mlp_config_init)
SPINFER_DEFAULT_CONSTRUCTOR(spinfer_kv_cache_config_t, spinfer_kv_cache_config_init)
SPINFER_DEFAULT_CONSTRUCTOR(spinfer_attention_config_t, spinfer_attention_config_init)
SPINFER_DEFAULT_CONSTRUCTOR(spinfer_decoder_config_t, spinfer_decoder_config_init)
SPINFER_DEFAULT_CONSTRUCTOR(spinfer_decoder_weights_t, spinfer_decoder_weights_init)
SPINFER_DEFAULT_CONSTRUCTOR(spinfer_model_config_t, spinfer_model_config_init)

/* ---- addresses: void*, const void*, typed host arrays, streams -------------------- */
%typemap(jni)    void*, const void* "jlong"
%typemap(jtype)  void*, const void* "long"
%typemap(jstype) void*, const void* "long"
%typemap(javain) void*, const void* "$javainput"
%typemap(in)     void*, const void* %{ $1 = ($1_ltype)(intptr_t)$input; %}
/* struct members (spinfer_decoder_weights_t) read back as addresses too */
%typemap(out)     void*, const void* %{ $result = (jlong)(intptr_t)$1; %}
%typemap(javaout) void*, const void* { return $jnicall; }
%apply const void* { const uint16_t* values, const uint64_t* bitmaps, const uint64_t* group_offsets };
%apply void* { uint16_t* values, uint64_t* bitmaps, uint64_t* group_offsets };
/* token ids, sequence ids and logits are host arrays: addresses as well */
%apply const void* { const int32_t*, int32_t*, float* };

/* ---- opaque handles -------------------------------------------------------------- */
%define SPINFER_OPAQUE_HANDLE(TYPE)
%typemap(jni)    TYPE*, const TYPE* "jlong"
%typemap(jtype)  TYPE*, const TYPE* "long"
%typemap(jstype) TYPE*, const TYPE* "long"
%typemap(javain) TYPE*, const TYPE* "$javainput"
%typemap(in)     TYPE*, const TYPE* %{ $1 = ($1_ltype)(intptr_t)$input; %}
%typemap(out)    TYPE*, const TYPE* %{ $result = (jlong)(intptr_t)$1; %}
%typemap(javaout) TYPE*, const TYPE* { return $jnicall; }

/* Output handle: the library writes the new handle into element 0 of a long[]. A null
   array passes NULL through, so the library reports it. */
%typemap(jni)    TYPE** "jlongArray"
%typemap(jtype)  TYPE** "long[]"
%typemap(jstype) TYPE** "long[]"
%typemap(javain) TYPE** "$javainput"
%typemap(in)     TYPE** (TYPE* handle_out = NULL) {
  $1 = NULL;
  if ($input) {
    if (jenv->GetArrayLength($input) < 1) {
      SWIG_JavaThrowException(jenv, SWIG_JavaIndexOutOfBoundsException, "output handle array needs length >= 1");
      return $null;
    }
    $1 = &handle_out;
  }
}
%typemap(argout) TYPE** {
  if ($input) {
    jlong value = (jlong)(intptr_t)handle_out$argnum;
    jenv->SetLongArrayRegion($input, 0, 1, &value);
  }
}
%enddef
SPINFER_OPAQUE_HANDLE(spinfer_context_t)
SPINFER_OPAQUE_HANDLE(spinfer_matrix_t)
SPINFER_OPAQUE_HANDLE(spinfer_linear_t)
SPINFER_OPAQUE_HANDLE(spinfer_mlp_t)
SPINFER_OPAQUE_HANDLE(spinfer_kv_cache_t)
SPINFER_OPAQUE_HANDLE(spinfer_attention_t)
SPINFER_OPAQUE_HANDLE(spinfer_decoder_layer_t)
SPINFER_OPAQUE_HANDLE(spinfer_model_t)

/* ---- scalar outputs ------------------------------------------------------------ */
%define SPINFER_SCALAR_OUTPUT(CTYPE, JNITYPE, JNIARRAY, JAVAARRAY, SETREGION)
%typemap(jni)    CTYPE* JNIARRAY
%typemap(jtype)  CTYPE* JAVAARRAY
%typemap(jstype) CTYPE* JAVAARRAY
%typemap(javain) CTYPE* "$javainput"
%typemap(in)     CTYPE* (CTYPE scalar_out = (CTYPE)0) {
  $1 = NULL;
  if ($input) {
    if (jenv->GetArrayLength($input) < 1) {
      SWIG_JavaThrowException(jenv, SWIG_JavaIndexOutOfBoundsException, "output array needs length >= 1");
      return $null;
    }
    $1 = &scalar_out;
  }
}
%typemap(argout) CTYPE* {
  if ($input) {
    JNITYPE value = (JNITYPE)scalar_out$argnum;
    jenv->SETREGION($input, 0, 1, &value);
  }
}
%enddef
SPINFER_SCALAR_OUTPUT(size_t, jlong, "jlongArray", "long[]", SetLongArrayRegion)
SPINFER_SCALAR_OUTPUT(int64_t, jlong, "jlongArray", "long[]", SetLongArrayRegion)
SPINFER_SCALAR_OUTPUT(spinfer_backend_t, jint, "jintArray", "int[]", SetIntArrayRegion)

/* ---- spinfer_save: matrices as long[] and names as String[] ------------------------
   The count is the length of the names array; the action below checks that the
   matrices array has the same length, so the library never reads past either. */
%typemap(jni)    const spinfer_matrix_t* const* matrices "jlongArray"
%typemap(jtype)  const spinfer_matrix_t* const* matrices "long[]"
%typemap(jstype) const spinfer_matrix_t* const* matrices "long[]"
%typemap(javain) const spinfer_matrix_t* const* matrices "$javainput"
%typemap(in)     const spinfer_matrix_t* const* matrices {
  $1 = NULL;
  if ($input) {
    jsize length = jenv->GetArrayLength($input);
    const spinfer_matrix_t** handles = new const spinfer_matrix_t*[length > 0 ? length : 1];
    jlong* raw = jenv->GetLongArrayElements($input, NULL);
    if (!raw) { delete[] handles; return $null; }
    for (jsize i = 0; i < length; ++i) handles[i] = (const spinfer_matrix_t*)(intptr_t)raw[i];
    jenv->ReleaseLongArrayElements($input, raw, JNI_ABORT);
    $1 = ($1_ltype)handles;
  }
}
%typemap(argout)  const spinfer_matrix_t* const* matrices ""
%typemap(freearg) const spinfer_matrix_t* const* matrices %{ delete[] (const spinfer_matrix_t**)$1; %}

%typemap(jni)    (const char* const* names, size_t count) "jobjectArray"
%typemap(jtype)  (const char* const* names, size_t count) "String[]"
%typemap(jstype) (const char* const* names, size_t count) "String[]"
%typemap(javain) (const char* const* names, size_t count) "$javainput"
%typemap(in)     (const char* const* names, size_t count) (jstring* name_refs = NULL) {
  $1 = NULL;
  $2 = 0;
  if ($input) {
    jsize length = jenv->GetArrayLength($input);
    const char** utf = new const char*[length > 0 ? length : 1]();
    name_refs = new jstring[length > 0 ? length : 1]();
    for (jsize i = 0; i < length; ++i) {
      name_refs[i] = (jstring)jenv->GetObjectArrayElement($input, i);
      /* a null element stays NULL: the library names it in its message */
      utf[i] = name_refs[i] ? jenv->GetStringUTFChars(name_refs[i], NULL) : NULL;
    }
    $1 = ($1_ltype)utf;
    $2 = (size_t)length;
  }
}
%typemap(freearg) (const char* const* names, size_t count) {
  /* only exception-safe JNI calls here: an exception may be pending */
  if ($1) {
    for (size_t i = 0; i < $2; ++i) {
      if (name_refs$argnum[i]) {
        if ($1[i]) jenv->ReleaseStringUTFChars(name_refs$argnum[i], $1[i]);
        jenv->DeleteLocalRef(name_refs$argnum[i]);
      }
    }
    delete[] (const char**)$1;
    delete[] name_refs$argnum;
  }
}
%exception spinfer_save {
  /* jarg2 = matrices, jarg3 = names: Java arrays carry their lengths, they must agree. */
  if (jarg2 && jarg3 && jenv->GetArrayLength(jarg2) != jenv->GetArrayLength(jarg3)) {
    SWIG_JavaThrowException(jenv, SWIG_JavaIllegalArgumentException, "save: matrices and names differ in length");
    result = SPINFER_STATUS_INVALID_ARGUMENT; /* not seen: the pending exception wins */
  } else {
    $action
  }
}

/* ---- spinfer_file_matrix_name: the name buffer is a byte[] ------------------------- */
%typemap(jni)    (char* buffer, size_t buffer_size) "jbyteArray"
%typemap(jtype)  (char* buffer, size_t buffer_size) "byte[]"
%typemap(jstype) (char* buffer, size_t buffer_size) "byte[]"
%typemap(javain) (char* buffer, size_t buffer_size) "$javainput"
%typemap(in)     (char* buffer, size_t buffer_size) {
  $1 = NULL;
  $2 = 0;
  if ($input) {
    $1 = (char*)jenv->GetByteArrayElements($input, NULL);
    if (!$1) return $null;
    $2 = (size_t)jenv->GetArrayLength($input);
  }
}
%typemap(argout) (char* buffer, size_t buffer_size) {
  if ($input) jenv->ReleaseByteArrayElements($input, (jbyte*)$1, 0);
}

/* ---- helper: the address of a direct NIO buffer ---------------------------------- */
%typemap(jni)    jobject DIRECT_BUFFER "jobject"
%typemap(jtype)  jobject DIRECT_BUFFER "java.nio.Buffer"
%typemap(jstype) jobject DIRECT_BUFFER "java.nio.Buffer"
%typemap(javain) jobject DIRECT_BUFFER "$javainput"
%typemap(in)     jobject DIRECT_BUFFER %{ $1 = $input; %}
%typemap(jni)    jlong "jlong"
%typemap(jtype)  jlong "long"
%typemap(jstype) jlong "long"
%typemap(out)    jlong %{ $result = $1; %}
%typemap(javaout) jlong { return $jnicall; }

/* The JNIEnv is needed by the helper: SWIG passes it through this typemap. */
%typemap(in, numinputs=0) JNIEnv* jenv_in %{ $1 = jenv; %}

%inline %{
/** Base address of a direct java.nio buffer (ignoring its position), or 0 when the
    buffer is null or not direct. */
jlong direct_buffer_address(JNIEnv* jenv_in, jobject DIRECT_BUFFER) {
  if (!DIRECT_BUFFER) return 0;
  return (jlong)(intptr_t)jenv_in->GetDirectBufferAddress(DIRECT_BUFFER);
}
%}

/* The progress report of spinfer_convert_model is read-only: its strings belong to the library. */
%immutable spinfer_convert_progress_t::tensor;
%immutable spinfer_convert_progress_t::note;
%include "spinfer.h"
