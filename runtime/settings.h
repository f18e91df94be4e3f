// The environment variables vkattn reads, each read once, when a context is
// created: nothing reads the environment per call. Two kinds:
//
// - Settings: what a user may choose (device, validation, memory limits,
//   pipeline cache folder, how host calls move data). The C ABI's
//   vkattn_context_options override them where both exist.
// - Tuning: kernel-tuning and test hooks (forced splits and tilings, paths
//   kept off). Not configuration: tests and tools set them on a context
//   directly (Context::tuning()); the VKATTN_* variables that fill them are
//   for tools that reach the library only through its C ABI
//   (scripts/gpu-tune.sh through vkattn-bench), documented in
//   docs/tuning.md.
//
// One convention for every on/off variable: 1, on, true, yes / 0, off,
// false, no (any case); unset or empty = the default. A value that does not
// parse fails context creation with VKATTN_ERROR_INVALID_ARGUMENT naming the
// variable and its value.
#pragma once

#include <cstdint>
#include <string>

#include "status.h"

namespace vkattn {

// How host calls' bus copies run.
enum class TransferQueue {
    Auto,      // a copy-engine queue where the device has one (VKATTN_TRANSFER_QUEUE unset or 1)
    Off,       // on the compute queue, no lane (0)
    Same,      // the lane's submissions on the compute queue (same: how tests cover it on one-queue devices)
    SameLate,  // the same, the lane's submissions deferred (same-late)
};

struct Settings {
    std::string device;             // VKATTN_DEVICE: an index or a name substring; "" = the best by type
    bool validation = false;        // VKATTN_VALIDATION
    uint64_t heap_limit = 0;        // VKATTN_HEAP_LIMIT: bytes (K/M/G suffixes), 0 = none
    uint64_t max_buffer_range = 0;  // VKATTN_MAX_BUFFER_RANGE: bytes, 0 = the device's
    std::string cache_dir;          // VKATTN_CACHE_DIR, else $XDG_CACHE_HOME/vkattn, else ~/.cache/vkattn
    bool no_host_import = false;    // VKATTN_NO_HOST_IMPORT
    int host_direct = -1;           // VKATTN_HOST_DIRECT: -1 vkattn decides, 0 never, 1 always
    bool pipeline_stats = false;    // VKATTN_PIPELINE_STATS: driver statistics of each new pipeline on stderr
    TransferQueue transfer_queue = TransferQueue::Auto;  // VKATTN_TRANSFER_QUEUE: 0|1|same|same-late
};

struct Tuning {
    uint32_t force_splitkv = 0;     // VKATTN_FORCE_SPLITKV: key splits of the portable path (0: chosen)
    bool coopmat = true;            // VKATTN_COOPMAT=0: AUTO stays off the matrix units
    bool coopmat_f32 = true;        // VKATTN_COOPMAT_F32=0: f32 tensors stay on the portable path
    std::string coopmat_tile;       // VKATTN_COOPMAT_TILE: a coopmat variant suffix (tuning builds embed more)
    std::string attn_tile;          // VKATTN_ATTN_TILE: "br,bc,dc" of the generic portable kernel
    std::string attn_fast;          // VKATTN_ATTN_FAST: "wg,br,bc,tc,otc,dc" of the fast portable kernel
    bool attn_prefetch = true;      // VKATTN_ATTN_PREF=0: the fast kernel without its early global loads
    bool attn_generic = false;      // VKATTN_ATTN_GENERIC=1: the generic-stride portable kernel only
    std::string attn_fast_variant;  // VKATTN_ATTN_FAST_VARIANT: abl1..abl4 ablations (tuning builds only)
    uint32_t host_chunks = 0;       // VKATTN_HOST_CHUNKS: host calls in this many chunks (0: chosen)
    bool host_hugepage = true;      // VKATTN_HOST_HUGEPAGE=0: no huge-page hint on large outputs
    bool host_profile = false;      // VKATTN_HOST_PROFILE: where each host call's wall time went, on stderr
};

// The environment, parsed. Errors name the variable and its value.
Status read_settings(Settings *out);
Status read_tuning(Tuning *out);
// Sets one tuning hook by its variable's name, as that variable would at
// context creation ("" or null: back to the default). For tests and tools.
Status set_tuning(Tuning *t, const char *name, const char *value);

// Parsers behind them (exposed for tests).
// "123", "64K", "512M", "2G", "1GiB" (binary units); false if malformed,
// negative or past 2^64.
bool parse_bytes(const char *text, uint64_t *out);
// The on/off convention above; false if the text is neither.
bool parse_flag(const char *text, bool *out);

}  // namespace vkattn
