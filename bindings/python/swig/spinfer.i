/*
 * spinfer.i -- SWIG interface of the raw Python module `spinfer.capi`.
 *
 * The module is generated from capi/include/spinfer.h (%include below), so every
 * function, enum and struct of the header appears here under its C name. This file
 * only adds typemaps that turn the C calling conventions into Python ones:
 *
 *   spinfer_x_t** out             -> the new handle is returned after the status
 *   spinfer_backend_t* out, size_t* count / required,
 *   int64_t* length / count / generated / zeros -> returned after the status
 *   spinfer_*_info_t* info, spinfer_spmm_plan_t* plan,
 *   spinfer_convert_report_t* report -> a filled struct (struct_size set for the caller)
 *   (char* buffer, size_t size)   -> pass the buffer size, get a str back
 *   void* stream                  -> int (a cudaStream_t) or None
 *   const void* / void* data,
 *   (const) int32_t* / float*     -> int address (device or host), None, or any
 *                                    object with the buffer protocol (numpy arrays)
 *   (const uintN_t* a, uint64_t n)-> one contiguous buffer with N/8-byte items
 *   (uintN_t* a, uint64_t n)      -> the same, writable (spinfer_matrix_copy_arrays)
 *   spinfer_save's three arrays   -> one sequence of (name, matrix) pairs
 *
 * Every wrapped call returns the status first: `status` alone, or a list
 * `[status, out1, ...]` when the C function has out-parameters. The pythonic
 * package `spinfer` turns statuses into exceptions; this layer never raises for a
 * failed status (only for Python argument errors such as a wrong type).
 */
%module(package="spinfer") capi

%{
#include <stdlib.h>
#include <string.h>
#include "spinfer.h"

/* None -> NULL, int -> that address. Anything else is a TypeError. */
static int spinfer_py_address(PyObject* obj, const char* what, void** out) {
  if (obj == Py_None) { *out = NULL; return 1; }
  if (PyLong_Check(obj)) {
    *out = PyLong_AsVoidPtr(obj);
    return PyErr_Occurred() == NULL;
  }
  PyErr_Format(PyExc_TypeError, "%s must be an int address or None, not %.200s", what,
               Py_TYPE(obj)->tp_name);
  return 0;
}

/* A data pointer: an int address, None, or the start of a contiguous buffer
 * (writable when `writable`). `*have_view` tells the caller to release `view`. */
static int spinfer_py_data(PyObject* obj, int writable, Py_buffer* view, int* have_view,
                           void** out) {
  *have_view = 0;
  if (obj == Py_None || PyLong_Check(obj)) return spinfer_py_address(obj, "data pointer", out);
  if (!PyObject_CheckBuffer(obj)) {
    PyErr_Format(PyExc_TypeError,
                 "data must be an int address, None or a buffer (numpy array), not %.200s",
                 Py_TYPE(obj)->tp_name);
    return 0;
  }
  if (PyObject_GetBuffer(obj, view, PyBUF_ANY_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) != 0)
    return 0;
  *have_view = 1;
  *out = view->buf;
  return 1;
}

/* A contiguous buffer of items of `item_size` bytes (None gives NULL, 0 items),
 * writable when `writable`. */
static int spinfer_py_items(PyObject* obj, Py_ssize_t item_size, int writable, const char* what,
                            Py_buffer* view, int* have_view, const void** data,
                            uint64_t* count) {
  *have_view = 0;
  if (obj == Py_None) { *data = NULL; *count = 0; return 1; }
  if (PyObject_GetBuffer(obj, view,
                         PyBUF_ANY_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) != 0)
    return 0;
  *have_view = 1;
  if (view->itemsize != item_size) {
    PyErr_Format(PyExc_TypeError, "%s must hold %zd-byte items, got %zd-byte items", what,
                 item_size, view->itemsize);
    return 0;
  }
  *data = view->buf;
  *count = (uint64_t)(view->len / item_size);
  return 1;
}
%}

%include <stdint.i>

/* ---- out-handles (any `T** out`): the handle comes back after the status, None on
 * failure. Generic, so that every handle type the header declares is covered. ---- */
%typemap(in, numinputs=0) SWIGTYPE** out ($*1_ltype temp = NULL) { $1 = &temp; }
%typemap(argout) SWIGTYPE** out {
  $result = SWIG_AppendOutput($result, SWIG_NewPointerObj(SWIG_as_voidptr(*$1), $*1_descriptor, 0));
}

/* ---- scalar out-parameters, returned after the status ---- */
%typemap(in, numinputs=0) spinfer_backend_t* out (spinfer_backend_t temp = SPINFER_BACKEND_AUTO) {
  $1 = &temp;
}
%typemap(argout) spinfer_backend_t* out {
  $result = SWIG_AppendOutput($result, PyLong_FromLong((long)*$1));
}
%typemap(in, numinputs=0) size_t* count (size_t temp = 0), size_t* required (size_t temp = 0) {
  $1 = &temp;
}
%typemap(argout) size_t* count, size_t* required {
  $result = SWIG_AppendOutput($result, PyLong_FromSize_t(*$1));
}
%typemap(in, numinputs=0) int64_t* length (int64_t temp = 0), int64_t* count (int64_t temp = 0),
                          int64_t* generated (int64_t temp = 0), int64_t* zeros (int64_t temp = 0) {
  $1 = &temp;
}
%typemap(argout) int64_t* length, int64_t* count, int64_t* generated, int64_t* zeros {
  $result = SWIG_AppendOutput($result, PyLong_FromLongLong((long long)*$1));
}

/* ---- info structs: a caller-owned copy, struct_size already set ---- */
%define SPINFER_OUT_STRUCT(TYPE, NAME)
%typemap(in, numinputs=0) TYPE* NAME (TYPE temp) {
  memset(&temp, 0, sizeof temp);
  temp.struct_size = sizeof temp;
  $1 = &temp;
}
%typemap(argout) TYPE* NAME {
  TYPE* copy = (TYPE*)malloc(sizeof *copy);
  if (!copy) { PyErr_NoMemory(); SWIG_fail; }
  *copy = *$1;
  $result = SWIG_AppendOutput($result, SWIG_NewPointerObj(copy, $1_descriptor, SWIG_POINTER_OWN));
}
%enddef
SPINFER_OUT_STRUCT(spinfer_matrix_info_t, info)
SPINFER_OUT_STRUCT(spinfer_model_info_t, info)
SPINFER_OUT_STRUCT(spinfer_spmm_plan_t, plan)
SPINFER_OUT_STRUCT(spinfer_convert_report_t, report)

/* ---- string out-buffer: Python passes its size, gets the str ---- */
%typemap(in) (char* buffer, size_t buffer_size) {
  Py_ssize_t n = PyLong_AsSsize_t($input);
  if (n == -1 && PyErr_Occurred()) SWIG_fail;
  if (n < 0) { PyErr_SetString(PyExc_ValueError, "buffer_size must be >= 0"); SWIG_fail; }
  $2 = (size_t)n;
  $1 = n > 0 ? (char*)calloc((size_t)n, 1) : NULL;
  if (n > 0 && !$1) { PyErr_NoMemory(); SWIG_fail; }
}
%typemap(argout) (char* buffer, size_t buffer_size) {
  PyObject* text = $1 ? PyUnicode_DecodeUTF8($1, (Py_ssize_t)strnlen($1, $2), "surrogateescape")
                      : PyUnicode_FromString("");
  if (!text) SWIG_fail;
  $result = SWIG_AppendOutput($result, text);
}
%typemap(freearg) (char* buffer, size_t buffer_size) { free($1); }

/* ---- streams: int (cudaStream_t) or None ---- */
%typemap(in) void* stream {
  if (!spinfer_py_address($input, "stream", &$1)) SWIG_fail;
}
%typemap(freearg) void* stream ""

/* ---- data pointers: device/host int address, None, or a buffer (writable for
 * non-const pointers) ---- */
%define SPINFER_DATA_POINTER(CTYPE, WRITABLE)
%typemap(in) CTYPE (Py_buffer view, int have_view = 0) {
  void* p = NULL;
  if (!spinfer_py_data($input, WRITABLE, &view, &have_view, &p)) SWIG_fail;
  $1 = ($1_ltype)p;
}
%typemap(freearg) CTYPE { if (have_view$argnum) PyBuffer_Release(&view$argnum); }
%enddef
SPINFER_DATA_POINTER(const void*, 0)
SPINFER_DATA_POINTER(const int32_t*, 0)
SPINFER_DATA_POINTER(const float*, 0)
SPINFER_DATA_POINTER(void*, 1)
SPINFER_DATA_POINTER(int32_t*, 1)
SPINFER_DATA_POINTER(float*, 1)

/* ---- raw TCA-BME arrays: read by spinfer_matrix_from_arrays (const), written by
 * spinfer_matrix_copy_arrays ---- */
%define SPINFER_ITEMS(CTYPE, NAME, COUNT, SIZE, WRITABLE)
%typemap(in) (CTYPE* NAME, uint64_t COUNT) (Py_buffer view, int have_view = 0) {
  const void* p = NULL;
  if (!spinfer_py_items($input, SIZE, WRITABLE, #NAME, &view, &have_view, &p, &$2)) SWIG_fail;
  $1 = ($1_ltype)p;
}
%typemap(freearg) (CTYPE* NAME, uint64_t COUNT) {
  if (have_view$argnum) PyBuffer_Release(&view$argnum);
}
%enddef
SPINFER_ITEMS(const uint16_t, values, values_count, 2, 0)
SPINFER_ITEMS(const uint64_t, bitmaps, bitmaps_count, 8, 0)
SPINFER_ITEMS(const uint64_t, group_offsets, offsets_count, 8, 0)
SPINFER_ITEMS(uint16_t, values, values_count, 2, 1)
SPINFER_ITEMS(uint64_t, bitmaps, bitmaps_count, 8, 1)
SPINFER_ITEMS(uint64_t, group_offsets, offsets_count, 8, 1)

/* ---- spinfer_save: one sequence of (name, matrix) pairs ---- */
%typemap(in) (const spinfer_matrix_t* const* matrices, const char* const* names, size_t count)
    (PyObject* seq = NULL) {
  Py_ssize_t n, i;
  seq = PySequence_Fast($input, "matrices must be a sequence of (name, matrix) pairs");
  if (!seq) SWIG_fail;
  n = PySequence_Fast_GET_SIZE(seq);
  $3 = (size_t)n;
  $1 = ($1_ltype)calloc(n > 0 ? (size_t)n : 1, sizeof(void*));
  $2 = ($2_ltype)calloc(n > 0 ? (size_t)n : 1, sizeof(char*));
  if (!$1 || !$2) { PyErr_NoMemory(); SWIG_fail; }
  for (i = 0; i < n; ++i) {
    PyObject* pair = PySequence_Fast_GET_ITEM(seq, i);
    PyObject *name, *mat;
    const char* utf8;
    void* ptr = NULL;
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
      PyErr_SetString(PyExc_TypeError, "matrices must be a sequence of (name, matrix) pairs");
      SWIG_fail;
    }
    name = PyTuple_GET_ITEM(pair, 0);
    mat = PyTuple_GET_ITEM(pair, 1);
    if (name != Py_None) {
      if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "a matrix name must be a str");
        SWIG_fail;
      }
      utf8 = PyUnicode_AsUTF8(name);
      if (!utf8) SWIG_fail;
      /* A private copy: the GIL is released during the call. */
      $2[i] = strdup(utf8);
      if (!$2[i]) { PyErr_NoMemory(); SWIG_fail; }
    }
    if (mat != Py_None &&
        !SWIG_IsOK(SWIG_ConvertPtr(mat, &ptr, $descriptor(spinfer_matrix_t*), 0))) {
      PyErr_SetString(PyExc_TypeError, "each matrix must be a spinfer_matrix_t handle or None");
      SWIG_fail;
    }
    $1[i] = ptr;
  }
}
%typemap(freearg) (const spinfer_matrix_t* const* matrices, const char* const* names, size_t count) {
  if ($2) {
    size_t i;
    for (i = 0; i < $3; ++i) free((void*)$2[i]);
  }
  free((void*)$1);
  free((void*)$2);
  Py_XDECREF(seq$argnum);
}

/* The export macro means nothing to SWIG. */
#define SPINFER_API
/* The progress report of spinfer_convert_model is read-only: its strings belong to the library. */
%immutable spinfer_convert_progress_t::tensor;
%immutable spinfer_convert_progress_t::note;
%include "spinfer.h"
