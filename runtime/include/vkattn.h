/*
 * vkattn.h - the stable C ABI of vkattn, a Vulkan compute runtime for the
 * kernels of diffusion models (flash attention with f32 accumulation, ...).
 *
 * Conventions (they hold for every function below unless it says otherwise):
 *   - Every function returns a vkattn_status. VKATTN_SUCCESS is 0; the other
 *     numbers are stable and grouped by kind (see vkattn_status).
 *   - On failure, vkattn_last_error() returns a message naming the offending
 *     argument. The message is thread-local and owned by the library: it stays
 *     valid until the next vkattn call on the same thread.
 *   - Out-parameters are set to NULL/0 on failure.
 *   - destroy(NULL) is a no-op. Nothing ever aborts, exits or throws across
 *     this boundary.
 *   - Structs passed by pointer begin with `struct_size`; set it to
 *     sizeof(struct) (the *_INIT macros do). Older, smaller structs are
 *     accepted; unknown larger ones are rejected with INVALID_ARGUMENT.
 *   - Sizes are in bytes unless named `*_elems`. Shapes and strides are
 *     int64_t and counted in elements; strides may be 0 only where a
 *     function says broadcasting is allowed.
 *
 * Thread safety: a vkattn_context may be used from several threads at once;
 * each call on a context takes the context's lock, so calls on one context
 * run one at a time. Tensors belong to the context that created them; the
 * caller must not destroy a tensor while another thread is still using it,
 * and must destroy every tensor before destroying its context (tensors
 * left alive are freed by vkattn_context_destroy and their handles become
 * invalid).
 *
 * fork(): Vulkan objects do not survive it. A context (and its tensors) can
 * be used only in the process that created it: in a fork()ed child every
 * call on an inherited context or tensor returns VKATTN_ERROR_WRONG_CONTEXT
 * at once (it never waits on the parent's GPU work), and destroying one
 * releases only the handle, leaving the parent's device alone. A child
 * creates a context of its own and uses it as usual.
 */
#ifndef VKATTN_H
#define VKATTN_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#if defined(VKATTN_BUILDING)
#define VKATTN_API __declspec(dllexport)
#else
#define VKATTN_API __declspec(dllimport)
#endif
#else
#define VKATTN_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define VKATTN_VERSION_MAJOR 0
#define VKATTN_VERSION_MINOR 1
#define VKATTN_VERSION_PATCH 0
/* Bumped whenever a function, struct layout or enum value changes
 * incompatibly. Bindings (Python) refuse a library with another number. */
#define VKATTN_ABI_VERSION 1

/* ------------------------------------------------------------------------ */
/* Status                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum vkattn_status {
    VKATTN_SUCCESS = 0,

    /* 100-199: the caller passed something wrong; nothing was written. */
    VKATTN_ERROR_INVALID_ARGUMENT = 100, /* generic bad value */
    VKATTN_ERROR_NULL_POINTER = 101,     /* a required pointer/handle was NULL */
    VKATTN_ERROR_INVALID_SHAPE = 102,    /* zero/negative dims, bad rank */
    VKATTN_ERROR_INVALID_DTYPE = 103,    /* dtype unknown or not allowed here */
    VKATTN_ERROR_SIZE_OVERFLOW = 104,    /* a size does not fit in 64 bits */
    VKATTN_ERROR_SHAPE_MISMATCH = 105,   /* shapes disagree between arguments */
    VKATTN_ERROR_OUT_OF_BOUNDS = 106,    /* a view reaches outside its tensor */
    VKATTN_ERROR_WRONG_CONTEXT = 107,    /* a tensor of another context, or a context
                                            of another process (inherited through fork) */

    /* 200-299: the request is valid but not supported here. */
    VKATTN_ERROR_UNSUPPORTED = 200,
    VKATTN_ERROR_NO_VULKAN = 201,       /* no Vulkan loader / driver on this machine */
    VKATTN_ERROR_NO_DEVICE = 202,       /* Vulkan works but no usable device matched */
    VKATTN_ERROR_FEATURE_MISSING = 203, /* the device lacks a required feature */

    /* 300-399: memory. The context stays usable afterwards. */
    VKATTN_ERROR_OUT_OF_DEVICE_MEMORY = 300, /* budget, heap limit or driver OOM */
    VKATTN_ERROR_OUT_OF_HOST_MEMORY = 301,

    /* 400-499: Vulkan or shader failures. */
    VKATTN_ERROR_VULKAN = 400,           /* a Vulkan call failed */
    VKATTN_ERROR_SHADER_INTERFACE = 401, /* embedded SPIR-V disagrees with its op */

    /* 500-599: the device is gone; destroy the context. */
    VKATTN_ERROR_DEVICE_LOST = 500,

    /* 900: a bug in vkattn. Please report it with the message. */
    VKATTN_ERROR_INTERNAL = 900
} vkattn_status;

/* A static English name for a status ("VKATTN_ERROR_NO_DEVICE: ..."). Never NULL. */
VKATTN_API const char *vkattn_status_string(vkattn_status status);

/* The message of the last failed call on this thread ("" after a success is
 * not guaranteed: only read it after a failure). Never NULL; owned by the
 * library; valid until the next vkattn call on this thread. */
VKATTN_API const char *vkattn_last_error(void);

/* VKATTN_VERSION_MAJOR*10000 + MINOR*100 + PATCH of the loaded library. */
VKATTN_API uint32_t vkattn_version(void);
/* VKATTN_ABI_VERSION of the loaded library. */
VKATTN_API uint32_t vkattn_abi_version(void);

/* ------------------------------------------------------------------------ */
/* Data types                                                               */
/* ------------------------------------------------------------------------ */

typedef enum vkattn_dtype {
    VKATTN_DTYPE_F32 = 0,
    VKATTN_DTYPE_F16 = 1,
    VKATTN_DTYPE_BF16 = 2,
    VKATTN_DTYPE_BOOL = 3, /* one byte per element, 0 = false, else true */
    VKATTN_DTYPE_COUNT_ = 4
} vkattn_dtype;

/* Bytes per element of a dtype, 0 for an unknown one. */
VKATTN_API size_t vkattn_dtype_size(vkattn_dtype dtype);

/* ------------------------------------------------------------------------ */
/* Devices and contexts                                                     */
/* ------------------------------------------------------------------------ */

typedef enum vkattn_device_type {
    VKATTN_DEVICE_OTHER = 0,
    VKATTN_DEVICE_INTEGRATED_GPU = 1,
    VKATTN_DEVICE_DISCRETE_GPU = 2,
    VKATTN_DEVICE_VIRTUAL_GPU = 3,
    VKATTN_DEVICE_CPU = 4
} vkattn_device_type;

/* What the kernels care about on a device. Filled by the library. */
typedef struct vkattn_device_info {
    uint32_t struct_size;
    uint32_t index; /* position in vkattn_device_count() order */
    char name[256];
    char driver_name[256]; /* e.g. "llvmpipe", "NVIDIA" (may be empty) */
    char driver_info[256];
    uint32_t vendor_id, device_id;
    uint32_t device_type; /* vkattn_device_type */
    uint32_t api_version; /* VK_MAKE_API_VERSION encoding */
    uint32_t driver_version;
    uint8_t device_uuid[16];
    /* subgroups */
    uint32_t subgroup_size;                        /* default subgroup size */
    uint32_t min_subgroup_size, max_subgroup_size; /* equal to subgroup_size without size control */
    uint32_t subgroup_size_control;                /* 1 if VK_EXT_subgroup_size_control / 1.3 */
    uint32_t subgroup_ops;                         /* VkSubgroupFeatureFlags supported in compute */
    /* limits */
    uint32_t max_shared_memory; /* maxComputeSharedMemorySize, bytes */
    uint32_t max_workgroup_invocations;
    uint32_t max_push_constants;
    uint64_t max_storage_buffer_range; /* the device's; see also the context's */
    uint64_t min_storage_buffer_offset_alignment;
    /* arithmetic / storage */
    uint32_t shader_float16; /* f16 arithmetic in shaders */
    uint32_t storage_16bit;  /* 16-bit storage buffer access */
    uint32_t shader_int64;
    uint32_t nv_cooperative_matrix;  /* VK_NV_cooperative_matrix present */
    uint32_t khr_cooperative_matrix; /* VK_KHR_cooperative_matrix present */
    /* memory */
    uint32_t memory_budget_ext;    /* VK_EXT_memory_budget present */
    uint32_t external_memory_host; /* VK_EXT_external_memory_host present */
    uint64_t min_imported_host_pointer_alignment;
    uint64_t device_local_heap_size; /* largest DEVICE_LOCAL heap, bytes */
    uint64_t device_local_budget;    /* budget now (ext) or the heap size */
    /* timing */
    uint32_t timestamps;       /* compute queue supports timestamps */
    float timestamp_period_ns; /* nanoseconds per timestamp tick */
} vkattn_device_info;

#define VKATTN_DEVICE_INFO_INIT \
    { sizeof(vkattn_device_info) }

/* The number of Vulkan devices. With no Vulkan loader or driver this returns
 * VKATTN_ERROR_NO_VULKAN (count set to 0); with a loader but no device,
 * VKATTN_SUCCESS and 0. `count` must not be NULL. */
VKATTN_API vkattn_status vkattn_device_count(uint32_t *count);

/* Information on device `index` (< vkattn_device_count()). `info` is caller
 * owned with info->struct_size set. */
VKATTN_API vkattn_status vkattn_device_get_info(uint32_t index, vkattn_device_info *info);

typedef struct vkattn_context_s *vkattn_context;
typedef struct vkattn_tensor_s *vkattn_tensor;

enum {
    /* Enable VK_LAYER_KHRONOS_validation (also: environment VKATTN_VALIDATION=1).
     * Each validation error is counted (vkattn_validation_error_count) and
     * printed on stderr. Creation fails with FEATURE_MISSING if the layer is
     * not installed. */
    VKATTN_CONTEXT_VALIDATION = 1u << 0,
    /* Do not read or write the on-disk pipeline cache. */
    VKATTN_CONTEXT_NO_PIPELINE_CACHE = 1u << 1,
    /* Never import caller host memory (always copy through staging). */
    VKATTN_CONTEXT_NO_HOST_IMPORT = 1u << 2
};

typedef struct vkattn_context_options {
    uint32_t struct_size;
    /* Device choice, in order: device_index >= 0; else device_name (a
     * case-insensitive substring of the device name) if not NULL; else the
     * environment variable VKATTN_DEVICE (an index or a name substring);
     * else the best by type: discrete > integrated > virtual > CPU > other. */
    int32_t device_index;    /* -1: not given */
    const char *device_name; /* NULL: not given; copied during the call */
    uint32_t flags;          /* VKATTN_CONTEXT_* */
    /* An artificial limit on device-local memory that vkattn allocates,
     * bytes; 0 = none. Also settable as VKATTN_HEAP_LIMIT (bytes, or with a
     * K/M/G suffix). The smaller of limit and device budget applies. */
    uint64_t heap_limit;
    /* Lower the largest storage-buffer window vkattn binds to one descriptor,
     * bytes; 0 = the device's maxStorageBufferRange. Used by tests to force
     * the tensor-splitting paths. Also VKATTN_MAX_BUFFER_RANGE. */
    uint64_t max_buffer_range;
    /* Folder of the pipeline cache; NULL = $VKATTN_CACHE_DIR, else
     * $XDG_CACHE_HOME/vkattn, else ~/.cache/vkattn. Copied during the call. */
    const char *cache_dir;
} vkattn_context_options;

#define VKATTN_CONTEXT_OPTIONS_INIT \
    { sizeof(vkattn_context_options), -1, NULL, 0, 0, 0, NULL }

/* Create a context on one device. `options` may be NULL (all defaults).
 * On success *out is a new context owned by the caller (vkattn_context_destroy).
 * Errors: NO_VULKAN (no loader/driver), NO_DEVICE (no device, or none matches
 * the requested index/name), FEATURE_MISSING (e.g. no 16-bit storage). */
VKATTN_API vkattn_status vkattn_context_create(const vkattn_context_options *options, vkattn_context *out);

/* Wait for the device, free every tensor still alive, write the pipeline
 * cache and release the device. NULL is a no-op. */
VKATTN_API void vkattn_context_destroy(vkattn_context ctx);

/* The device of a context. */
VKATTN_API vkattn_status vkattn_context_get_device_info(vkattn_context ctx, vkattn_device_info *info);

/* The storage-buffer window this context binds at most (the device limit or
 * the max_buffer_range option, whichever is smaller). */
VKATTN_API vkattn_status vkattn_context_max_buffer_range(vkattn_context ctx, uint64_t *bytes);

/* Validation errors reported by the validation layer since the process
 * started, over every context. Tests fail when this grows. */
VKATTN_API uint64_t vkattn_validation_error_count(void);

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct vkattn_memory_stats {
    uint32_t struct_size;
    uint64_t reserved;         /* device-local bytes held in blocks (pools) */
    uint64_t in_use;           /* bytes of those handed out to tensors/workspace */
    uint64_t peak;             /* highest in_use since creation or the last reset */
    uint64_t budget;           /* the most vkattn may hold: min(device budget, heap limit) */
    uint64_t block_count;      /* device memory allocations held */
    uint64_t allocation_count; /* sub-allocations alive */
    uint64_t staging_bytes;    /* host-visible staging held */
} vkattn_memory_stats;

#define VKATTN_MEMORY_STATS_INIT \
    { sizeof(vkattn_memory_stats) }

/* Allocate at least `bytes` of device memory now, so that later tensors and
 * workspace up to that total allocate nothing from the driver. Reserved
 * blocks stay until the context is destroyed. Errors: OUT_OF_DEVICE_MEMORY
 * (nothing is kept from a failed reservation). */
VKATTN_API vkattn_status vkattn_memory_reserve(vkattn_context ctx, uint64_t bytes);

/* Release blocks that hold no allocation and were not reserved. */
VKATTN_API vkattn_status vkattn_memory_trim(vkattn_context ctx);

VKATTN_API vkattn_status vkattn_memory_get_stats(vkattn_context ctx, vkattn_memory_stats *stats);

/* Set `peak` back to the current in_use. */
VKATTN_API vkattn_status vkattn_memory_reset_peak(vkattn_context ctx);

/* ------------------------------------------------------------------------ */
/* Device tensors                                                           */
/* ------------------------------------------------------------------------ */

#define VKATTN_MAX_DIMS 8

/* Create a dense (row-major, contiguous) device tensor of `ndim` (1..8)
 * dimensions, each >= 1. The contents are undefined until uploaded.
 * Errors: INVALID_SHAPE, INVALID_DTYPE, SIZE_OVERFLOW (the byte size does
 * not fit in 64 bits), OUT_OF_DEVICE_MEMORY. */
VKATTN_API vkattn_status vkattn_tensor_create(vkattn_context ctx, vkattn_dtype dtype, int32_t ndim,
                                              const int64_t *shape, vkattn_tensor *out);

/* Free a tensor (waits for work that uses it). NULL is a no-op. */
VKATTN_API void vkattn_tensor_destroy(vkattn_tensor tensor);

/* dtype, rank and shape of a tensor; any out-pointer may be NULL; `shape`
 * receives ndim values (room for VKATTN_MAX_DIMS is always enough). */
VKATTN_API vkattn_status vkattn_tensor_get_info(vkattn_tensor tensor, vkattn_dtype *dtype, int32_t *ndim,
                                                int64_t *shape, uint64_t *bytes);

/* Copy `bytes` (exactly the tensor's byte size) from host memory into the
 * tensor. `src` is only read during the call. Large, suitably aligned host
 * buffers are imported (VK_EXT_external_memory_host) instead of copied
 * through staging. */
VKATTN_API vkattn_status vkattn_tensor_upload(vkattn_tensor tensor, const void *src, uint64_t bytes);

/* Copy the whole tensor into `dst`, which holds `bytes` (exactly its size). */
VKATTN_API vkattn_status vkattn_tensor_download(vkattn_tensor tensor, void *dst, uint64_t bytes);

/* Like upload/download, but the host array is strided: element i (a
 * multi-index over the tensor's shape) lives at host_strides . i elements
 * from `src`/`dst`. Strides may be negative or 0 (0 only for upload:
 * broadcasting). `host_strides` holds ndim values. The host array's
 * element type is the tensor's dtype. */
VKATTN_API vkattn_status vkattn_tensor_upload_strided(vkattn_tensor tensor, const void *src,
                                                      const int64_t *host_strides);
VKATTN_API vkattn_status vkattn_tensor_download_strided(vkattn_tensor tensor, void *dst, const int64_t *host_strides);

/* ------------------------------------------------------------------------ */
/* Attention                                                                */
/* ------------------------------------------------------------------------ */

/* A 4-D strided view: element (i0,i1,i2,i3) is at
 * offset + i0*strides[0] + i1*strides[1] + i2*strides[2] + i3*strides[3]
 * elements from the start of the tensor (device API) or the host pointer
 * (host API). Offsets and strides are in elements and must be >= 0. */
typedef struct vkattn_view {
    int64_t shape[4];
    int64_t strides[4];
    int64_t offset;
} vkattn_view;

typedef enum vkattn_mask_kind {
    VKATTN_MASK_NONE = 0,
    VKATTN_MASK_ADDITIVE = 1, /* added to scale*q.k before softmax; f32 or f16; -inf allowed */
    VKATTN_MASK_BOOL = 2      /* VKATTN_DTYPE_BOOL; nonzero = keep, 0 = masked out */
} vkattn_mask_kind;

typedef enum vkattn_backend {
    VKATTN_BACKEND_AUTO = 0,     /* the fastest path that serves the case */
    VKATTN_BACKEND_PORTABLE = 1, /* scalar f32 path; runs on every device */
    VKATTN_BACKEND_COOPMAT = 2   /* matrix units; UNSUPPORTED where absent */
} vkattn_backend;

enum {
    /* Use `scale` (otherwise 1/sqrt(D)). */
    VKATTN_ATTENTION_SCALE = 1u << 0,
    /* Causal, aligned upper-left like PyTorch's is_causal: query i sees keys
     * j <= i (with Nq != Nk the diagonal starts at (0,0)). Off by default;
     * diffusion models never want it. */
    VKATTN_ATTENTION_CAUSAL = 1u << 1,
    /* Also write the log-sum-exp of each row (natural log, of the scaled and
     * masked logits) to `lse` as f32 [B, Hq, Nq]. -inf for a fully masked row. */
    VKATTN_ATTENTION_LSE = 1u << 2,
    /* vkattn_attention_host with F32 inputs only: round q, k and v to f16 while
     * packing them, compute as for F16 inputs (f32 accumulation; the matrix-unit
     * path where the device has one; half the bytes to move) and widen the f16
     * result to out_dtype. Errors are those of F16 inputs (about 2^-11 of the
     * row magnitude) instead of f32's. If a finite input is beyond the f16
     * range (65504) the call runs again without the flag, so the result is
     * never inf/NaN for it. Ignored for F16/BF16 inputs; vkattn_attention on
     * device tensors refuses it (INVALID_ARGUMENT). */
    VKATTN_ATTENTION_F16_COMPUTE = 1u << 3
};

/* out = softmax(scale * q.k^T + mask) . v over the last two dims.
 *   q   [B, Hq,  Nq, D ]      k [B, Hkv, Nk, D]      v [B, Hkv, Nk, Dv]
 *   out [B, Hq,  Nq, Dv]      mask broadcastable to [B, Hq, Nq, Nk]
 *   lse [B, Hq,  Nq, 1 ]      (f32; view with shape[3] = 1)
 * Hq % Hkv == 0: query head h uses kv head h / (Hq / Hkv) (grouped-query).
 * Any layout is a matter of strides: a [B, N, H, D] array is the view with
 * strides {N*H*D, D, H*D, 1}. 1 <= D, Dv <= 512.
 * Every product and sum is accumulated in f32; `out` is rounded once.
 * A row whose every key is masked gives zeros (and lse = -inf). */
typedef struct vkattn_attention_desc {
    uint32_t struct_size;
    vkattn_dtype dtype;     /* of q, k and v: F32, F16 or BF16 */
    vkattn_dtype out_dtype; /* dtype or F32 */
    uint32_t flags;         /* VKATTN_ATTENTION_* */
    float scale;            /* with VKATTN_ATTENTION_SCALE */
    vkattn_mask_kind mask_kind;
    vkattn_dtype mask_dtype; /* ADDITIVE: F32 or F16; BOOL: BOOL */
    vkattn_backend backend;
    vkattn_view q, k, v, out;
    vkattn_view mask; /* shape[i] is the broadcast size (1 or full); stride may be 0 */
    vkattn_view lse;
} vkattn_attention_desc;

/* Zero everything, set struct_size; then fill dtype, views, ... */
#define VKATTN_ATTENTION_DESC_INIT \
    { sizeof(vkattn_attention_desc) }

/* Attention on device tensors. q, k, v, out are required; mask with a
 * mask_kind other than NONE; lse with VKATTN_ATTENTION_LSE (else ignored,
 * may be NULL). The tensors' dtypes must match the descriptor, every view
 * must lie inside its tensor, and `out`/`lse` must not overlap the inputs.
 * Returns when the result is in `out`. On any error nothing is written. */
VKATTN_API vkattn_status vkattn_attention(vkattn_context ctx, const vkattn_attention_desc *desc, vkattn_tensor q,
                                          vkattn_tensor k, vkattn_tensor v, vkattn_tensor mask, vkattn_tensor out,
                                          vkattn_tensor lse);

/* The same on host memory: views are relative to the host pointers. The
 * library packs the inputs into staging memory and uploads, runs and downloads
 * in chunks (over batch and heads) so that packing, transfers and compute
 * overlap. Pointers are only used during the call. On an
 * error `out` and `lse` may have been partly written only if the status is
 * VKATTN_ERROR_DEVICE_LOST or VKATTN_ERROR_VULKAN; never for argument errors. */
VKATTN_API vkattn_status vkattn_attention_host(vkattn_context ctx, const vkattn_attention_desc *desc, const void *q,
                                               const void *k, const void *v, const void *mask, void *out, float *lse);

/* Device workspace (bytes) vkattn_attention needs for this descriptor,
 * beyond the tensors themselves: split-KV partial results, and for f32
 * inputs on matrix units (path "coopmat_nv_f32") the f16-pair copies of q, k
 * and v (as many bytes as the f32 tensors, their head dims rounded up to 48,
 * 64, 80 or 128). Where that allocation fails under AUTO, the call runs on
 * the portable path, which needs no copies. */
VKATTN_API vkattn_status vkattn_attention_workspace_size(vkattn_context ctx, const vkattn_attention_desc *desc,
                                                         uint64_t *bytes);

/* ------------------------------------------------------------------------ */
/* Profiling                                                                */
/* ------------------------------------------------------------------------ */

typedef struct vkattn_call_info {
    uint32_t struct_size;
    char path[64];       /* e.g. "portable", "portable+splitkv", "coopmat_nv", "coopmat_nv_f32" */
    char variant[128];   /* the shader variant of the main dispatch */
    uint32_t dispatches; /* compute dispatches recorded */
    uint32_t submits;    /* queue submissions */
    double gpu_ms;       /* sum of GPU time of the dispatches (timestamps); -1 if unknown */
} vkattn_call_info;

#define VKATTN_CALL_INFO_INIT \
    { sizeof(vkattn_call_info) }

/* What the last op call on this context did (attention, ...). */
VKATTN_API vkattn_status vkattn_context_last_call(vkattn_context ctx, vkattn_call_info *info);

/* GPU time of each dispatch of the last op call, in recording order, in
 * milliseconds (from the end of the previous dispatch to the end of this
 * one). Writes min(count, capacity) values to `ms` (caller owned; may be NULL
 * when capacity is 0) and the number available to *count. *count is 0
 * without timestamp support. */
VKATTN_API vkattn_status vkattn_context_last_dispatch_times(vkattn_context ctx, double *ms, uint32_t capacity,
                                                            uint32_t *count);

#ifdef __cplusplus
}
#endif

#endif /* VKATTN_H */
