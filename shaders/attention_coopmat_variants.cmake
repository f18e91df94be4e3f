# Attention on NV cooperative matrices (ops/attention_coopmat.cpp):
#   attention_coopmat_f16_d<HD>[_w8_ralw|_w8_t8_k128|_w4_m2_k64|_w8_ralw_pipe[_k32]]
# f16 in, f16 out; HD is the head-dim bucket (max(D, Dv) rounded up to 16).
# Default: 4 warps x 16 query rows, key blocks of 64, exact rescaling of O.
# _w8: 8 warps; _m2: two 16-row m-tiles per warp; _k<n>: key blocks of n;
# _t8: O rescaled only when a row maximum grows by more than 8 (log2 units,
# P <= 2^8); _ralw: O rescaled in registers every block, without a branch;
# _pipe: S of the next key block computed beside the softmax of this one.
# OSHARED=1 (the 4-warp variants up to 80, _t8 and _m2) moves O through
# shared memory for the rescale and the store; the others scale O in
# registers. Only the variants the chooser picks are built by default (the
# spirv-opt-unrolled modules are ~200 KB each); the others are tuning
# candidates below. Tilings were chosen on an H200 (ops/attention_coopmat.cpp).
# glslang declares the VulkanMemoryModel capability for GL_NV_cooperative_matrix.
# attention_coopmat_f16_d<hd>[_<suffix>] from attention_coopmat.comp, unrolled
# by spirv-opt (OPTIMIZE); extra arguments are its defines besides HD.
function(vkattn_coopmat_variant hd suffix)
  set(name attention_coopmat_f16_d${hd})
  if(suffix)
    string(APPEND name _${suffix})
  endif()
  vkattn_shader(${name} attention_coopmat.comp DEFINES HD=${hd} ${ARGN} TARGET_ENV vulkan1.2 OPTIMIZE)
endfunction()

foreach(hd 16 32 48 64 80)
  vkattn_coopmat_variant(${hd} "" NW=4 MT=1 BC=64 OSHARED=1)
endforeach()
foreach(hd 96 112 128)
  vkattn_coopmat_variant(${hd} "" NW=4 MT=1 BC=64 OSHARED=0)
endforeach()
# 8 warps, O rescaled in registers every key block (no branch between the
# softmax and P V): SD1.5 d80 35 -> 45 TFLOP/s (Flux 106 -> 110, WAN 129 -> 132
# before the pipelined variants below).
vkattn_coopmat_variant(80 w8_ralw NW=8 MT=1 BC=64 OSHARED=0 RALW=1)
# Software-pipelined (_pipe): the product S of block j+1 runs beside the
# softmax of block j, half the warps in each order, so the matrix units and
# the ALUs overlap. Flux 110 -> 122, WAN 132 -> 148, WAN cross 93 -> 99,
# SDXL 112 -> 124, SDXL 2x20x1024 72 -> 86; key blocks of 32 for short key
# ranges (SDXL cross attention 17.5 -> 24.4, SD1.5 cross 10.7 -> 17.0).
# The two warp halves take opposite orders at d48/d64 (SDXL 124, 114 with one
# order); at d96..128 one order does better (Flux 125 against 122).
foreach(hd 48 64)
  vkattn_coopmat_variant(${hd} w8_ralw_pipe_k32 NW=8 MT=1 BC=32 OSHARED=0 RALW=1 PIPE=1)
endforeach()
foreach(hd 96 112 128)
  vkattn_coopmat_variant(${hd} w8_ralw_pipe_k32 NW=8 MT=1 BC=32 OSHARED=0 RALW=1 PIPE=1 PINGPONG=0)
endforeach()
vkattn_coopmat_variant(64 w8_ralw_pipe NW=8 MT=1 BC=64 OSHARED=0 RALW=1 PIPE=1)
# Two 16-row m-tiles per warp halve the K/V fragment loads per product:
# SD1.5 d40 76 -> 102, SDXL 100 -> 111, SD3 94 -> 118 (a few bytes spill).
foreach(hd 48 64)
  vkattn_coopmat_variant(${hd} w4_m2_k64 NW=4 MT=2 BC=64 OSHARED=1 TAU=8)
endforeach()
# Key blocks of 128 for grids too small for the m-tile pairs (SDXL 2x20x1024:
# 43 -> 72 at d64, since overtaken by _pipe).
vkattn_coopmat_variant(48 w8_t8_k128 NW=8 MT=1 BC=128 OSHARED=1 TAU=8)
# Wide heads (attention_coopmat_wide.comp): buckets 160, 192, 256, 384 and
# 512, the head dim split across the warps of a row group.
#   attention_coopmat_f16_d<HD>_s<slices>_w<warps>_k<keys>[_m2][_t8][_p0]
# s: head-dim slices (warps per row group), w: warps (row groups = w / s),
# k: keys per block, m2: two 16-row m-tiles per row group, t8: lazy rescale
# (TAU=8), p0: no register prefetch.
function(vkattn_coopmat_wide hd ds nw bc)
  cmake_parse_arguments(W "T8;P0;M2" "" "" ${ARGN})
  math(EXPR rg "${nw} / ${ds}")
  set(name attention_coopmat_f16_d${hd}_s${ds}_w${nw}_k${bc})
  set(extra "")
  if(W_M2)
    string(APPEND name _m2)
    list(APPEND extra MT=2)
  endif()
  if(W_T8)
    string(APPEND name _t8)
    list(APPEND extra TAU=8)
  endif()
  if(W_P0)
    string(APPEND name _p0)
    list(APPEND extra PREF=0)
  endif()
  vkattn_shader(${name} attention_coopmat_wide.comp DEFINES HD=${hd} DS=${ds} RG=${rg} BC=${bc} ${extra}
                TARGET_ENV vulkan1.2 OPTIMIZE)
endfunction()
# Measured on an H200 (TFLOP/s, scripts/gpu-tune.sh with SUITE=
# assets/suites/wide_heads.json): more row groups share each K/V tile, so
# 16 warps in 4 row groups win at D = 512 (VAE 1x1x16384x512: s4_w16_k16 75,
# s4_w8_k16 57, s4_w4_k16 49, s4_w4_k32 27, s8_w16_k16 40) and 2 x 4 at
# D = 256 (1x8x4096x256: s2_w8_k32 85, s4_w16_k16 61, s2_w4_k32 49). Fewer
# row groups when the grid is small (VAE at 512x512: s4_w8_k16 50 with
# split-KV, s4_w16_k16 9).
foreach(hd 160 192 256)
  vkattn_coopmat_wide(${hd} 2 8 32)
endforeach()
foreach(hd 384 512)
  vkattn_coopmat_wide(${hd} 4 16 16)
  vkattn_coopmat_wide(${hd} 4 8 16)
endforeach()
# Two m-tiles per row group (each K/V fragment feeds two products) at 192 and
# 256 when the grid is large (H200, 12:55 UTC: 1x8x4096x192 79.9 -> 92.0,
# 1x8x4096x256 86.4 -> 91.4). Measured and not taken: at 512 and 384 the
# pairs need 252-255 registers (VAE 1x1x16384x512 74.3 against 82.9 for
# s4_w8_k16_m2, 40.5 for s4_w12_k16_m2; d384 68.1 against 67.6); at 160 with
# SD1.5's 2x8x1024 grid the 128-row workgroups leave the device half empty
# (31.4 with split-KV against 61.6); s2_w4_k32_m2 spills (d256 29.8).
foreach(hd 192 256)
  vkattn_coopmat_wide(${hd} 2 8 16 M2)
endforeach()
# f32 tensors on the matrix units (SPLIT=1, ops/attention_split.cpp): q, k
# and v as scaled f16 pairs made by attention_split.comp, three products for
# each f16 product, f32 out.
#   attention_coopmat_f32s_d<HD>_w<warps>_k<keys>
function(vkattn_coopmat_split hd nw bc)
  vkattn_shader(attention_coopmat_f32s_d${hd}_w${nw}_k${bc} attention_coopmat.comp
                DEFINES HD=${hd} NW=${nw} MT=1 BC=${bc} OSHARED=0 RALW=1 SPLIT=1 TARGET_ENV vulkan1.2 OPTIMIZE)
endfunction()
foreach(hd 48 64 80)
  vkattn_coopmat_split(${hd} 8 64)
endforeach()
vkattn_coopmat_split(128 8 32)
vkattn_shader(attention_split attention_split.comp)
vkattn_shader(attention_coopmat_probe attention_coopmat_probe.comp TARGET_ENV vulkan1.2)
# (The peak-rate microbenchmark's variants are the tool's: tools/CMakeLists.txt.
# The matrix unit's summation probe is a test's: tests/CMakeLists.txt.)
# Tuning candidates and ablations, built only with -DVKATTN_TUNING_VARIANTS=ON
# (scripts/gpu-tune.sh sweeps them through VKATTN_COOPMAT_TILE=<suffix>).
# Suffix parts: w<warps>, k<keys per block>, m<m-tiles per warp>, t8 (lazy
# rescale), ralw (branch-free register rescale), q1 (Q fragments reloaded from
# shared memory), pipe (software-pipelined S and softmax), x* (ablations that compute wrong results on purpose, for
# timing only).
if(VKATTN_TUNING_VARIANTS)
  set(VKATTN_SHADER_TUNING ON)
  # One m-tile per warp, 8 warps, 64 keys: exact rescale (w8) and lazy (t8).
  foreach(hd 96 112 128)
    vkattn_coopmat_variant(${hd} w8 NW=8 MT=1 BC=64 OSHARED=0)
  endforeach()
  foreach(hd 48 64 80)
    vkattn_coopmat_variant(${hd} w8 NW=8 MT=1 BC=64 OSHARED=1)
  endforeach()
  foreach(hd 48 64 80 96 112 128)
    vkattn_coopmat_variant(${hd} w8_t8 NW=8 MT=1 BC=64 OSHARED=1 TAU=8)
  endforeach()
  vkattn_coopmat_variant(64 w4_t8 NW=4 MT=1 BC=64 OSHARED=1 TAU=8)
  vkattn_coopmat_variant(128 w8_t8r NW=8 MT=1 BC=64 OSHARED=0 TAU=8)
  vkattn_coopmat_variant(128 w4_ralw NW=4 MT=1 BC=64 OSHARED=0 RALW=1)
  # Other key-block sizes. (d48 w8_k128 was the default d48 w8_t8_k128 under a
  # name without its t8: dropped, one kernel one name.)
  vkattn_coopmat_variant(64 w8_t8_k128 NW=8 MT=1 BC=128 OSHARED=1 TAU=8)
  foreach(hd 48 64)
    vkattn_coopmat_variant(${hd} w4_t8_k128 NW=4 MT=1 BC=128 OSHARED=1 TAU=8)
  endforeach()
  vkattn_coopmat_variant(128 w8_k32 NW=8 MT=1 BC=32 OSHARED=0)
  vkattn_coopmat_variant(128 w8_k32_t8r NW=8 MT=1 BC=32 OSHARED=0 TAU=8)
  vkattn_coopmat_variant(128 w8_t8_k32 NW=8 MT=1 BC=32 OSHARED=1 TAU=8)
  vkattn_coopmat_variant(128 w8_ralw_k32 NW=8 MT=1 BC=32 OSHARED=0 RALW=1)
  vkattn_coopmat_variant(128 w16_k32 NW=16 MT=1 BC=32 OSHARED=0)
  # Two m-tiles per warp (half the K/V fragment loads per product).
  foreach(hd 48 64)
    vkattn_coopmat_variant(${hd} m2 NW=4 MT=2 BC=64 OSHARED=1)
    vkattn_coopmat_variant(${hd} w4_m2_k48 NW=4 MT=2 BC=48 OSHARED=1 TAU=8)
    vkattn_coopmat_variant(${hd} w4_m2_k64_q1 NW=4 MT=2 BC=64 QSH=1 OSHARED=1 TAU=8)
  endforeach()
  foreach(hd 48 64 80)
    vkattn_coopmat_variant(${hd} w4_m2_k32 NW=4 MT=2 BC=32 OSHARED=1 TAU=8)
  endforeach()
  foreach(hd 48 64)
    vkattn_coopmat_variant(${hd} w8_m2_k32 NW=8 MT=2 BC=32 OSHARED=1 TAU=8)
  endforeach()
  vkattn_coopmat_variant(64 w4_m2_k32_q1 NW=4 MT=2 BC=32 QSH=1 OSHARED=1 TAU=8)
  # (d64 w4_m2_q1 was w4_m2_k64_q1 under a second name: dropped.)
  vkattn_coopmat_variant(64 w8_m2_k32_r NW=8 MT=2 BC=32 OSHARED=0)
  vkattn_coopmat_variant(64 w4_m2_k32_ralw NW=4 MT=2 BC=32 OSHARED=0 RALW=1)
  vkattn_coopmat_variant(48 w8_m2_k32_ralw NW=8 MT=2 BC=32 OSHARED=0 RALW=1)
  # Q fragments reloaded from shared memory each key block (fewer registers).
  vkattn_coopmat_variant(128 w4_k32_q1 NW=4 MT=1 BC=32 QSH=1 OSHARED=0)
  vkattn_coopmat_variant(128 w4_k64_q1 NW=4 MT=1 BC=64 QSH=1 OSHARED=0)
  vkattn_coopmat_variant(64 w4_k32_q1 NW=4 MT=1 BC=32 QSH=1 OSHARED=1)
  # Former defaults, and other pipelined tilings.
  foreach(hd 96 112 128)
    vkattn_coopmat_variant(${hd} w8_ralw NW=8 MT=1 BC=64 OSHARED=0 RALW=1)
  endforeach()
  vkattn_coopmat_variant(64 w8_ralw_k128 NW=8 MT=1 BC=128 OSHARED=0 RALW=1)
  foreach(hd 48 80 96 112 128)
    vkattn_coopmat_variant(${hd} w8_ralw_pipe NW=8 MT=1 BC=64 OSHARED=0 RALW=1 PIPE=1)
  endforeach()
  vkattn_coopmat_variant(64 w8_ralw_pipe_k128 NW=8 MT=1 BC=128 OSHARED=0 RALW=1 PIPE=1)
  # (Delaying P V by one block so that both products share the phase with the
  # softmax was measured and dropped: Flux 123 -> 109, SDXL 125 -> 104.)
  # Which warps take the softmax first (_pp0: none; _pp1: odd warps; default
  # at d64: warps 4-7). SDXL d64: 114 / 113 / 124; Flux d128: 125 / 115 / 122.
  vkattn_coopmat_variant(128 w8_ralw_pipe_k32_pp1 NW=8 MT=1 BC=32 OSHARED=0 RALW=1 PIPE=1 PINGPONG=1)
  vkattn_coopmat_variant(128 w8_ralw_pipe_k32_pp3 NW=8 MT=1 BC=32 OSHARED=0 RALW=1 PIPE=1 PINGPONG=3)
  vkattn_coopmat_variant(64 w8_ralw_pipe_pp0 NW=8 MT=1 BC=64 OSHARED=0 RALW=1 PIPE=1 PINGPONG=0)
  vkattn_coopmat_variant(64 w8_ralw_pipe_pp1 NW=8 MT=1 BC=64 OSHARED=0 RALW=1 PIPE=1 PINGPONG=1)
  # Pipelined m-tile pairs: SD3 122 (m2 120), SD1.5 d40 99 (103), SDXL 112 (pipe 124);
  # with 8 warps or 64 keys they spill or lose more (SD3 116 / 86).
  foreach(hd 48 64)
    vkattn_coopmat_variant(${hd} w4_m2_ralw_pipe_k32 NW=4 MT=2 BC=32 OSHARED=0 RALW=1 PIPE=1)
  endforeach()
  vkattn_coopmat_variant(64 w4_ralw_pipe NW=4 MT=1 BC=64 OSHARED=0 RALW=1 PIPE=1)
  # Wide-head tilings.
  # (t8 and p0 at 512 x 16 warps: 68.5 / 63.4 against 68.2 in one run.)
  foreach(hd 384 512)
    vkattn_coopmat_wide(${hd} 4 4 32)
  endforeach()
  vkattn_coopmat_wide(512 4 4 32 P0)
  vkattn_coopmat_wide(512 4 4 16)
  vkattn_coopmat_wide(512 4 12 16)
  vkattn_coopmat_wide(512 4 16 16 T8)
  vkattn_coopmat_wide(512 4 16 16 P0)
  vkattn_coopmat_wide(512 4 16 16 T8 P0)
  vkattn_coopmat_wide(512 8 16 16)
  foreach(hd 160 192 256)
    vkattn_coopmat_wide(${hd} 2 4 32)
  endforeach()
  vkattn_coopmat_wide(256 4 16 16)
  vkattn_coopmat_wide(256 2 8 16)
  vkattn_coopmat_wide(256 4 8 16)
  vkattn_coopmat_wide(160 2 8 16)
  vkattn_coopmat_wide(160 2 2 32)
  # Two m-tiles per row group (measured above).
  foreach(hd 384 512)
    vkattn_coopmat_wide(${hd} 4 8 16 M2)
    vkattn_coopmat_wide(${hd} 4 12 16 M2)
  endforeach()
  vkattn_coopmat_wide(160 2 8 16 M2)
  foreach(hd 160 192 256)
    vkattn_coopmat_wide(${hd} 2 4 32 M2)
  endforeach()
  # Split f32 tilings. H200, 11:10 UTC (ms): Flux f32 w8_k32 4.50 against w4_k32
  # 7.37; SDXL f32 w8_k64 1.47 against w8_k32 1.71 (175 registers against 255).
  vkattn_coopmat_split(64 8 32)
  vkattn_coopmat_split(128 4 32)
  vkattn_coopmat_split(80 8 32)
  # (Measured and dropped: each head-dim step of S or each 16-key step of
  # P V from a zero accumulator, summed on the ALUs: the same error, 4-9%
  # slower. The matrix unit's sums kept every bit the probe in
  # tests/test_attention_coopmat_f32.cpp looks at, down to 2^-21 beside 1.)
  # Ablations (wrong results, timing only): xnosm = no softmax; xnold =
  # fragments from registers instead of shared memory; xnoglob = no global K/V
  # loads; xmma = none of the three (matrix work and barriers alone).
  vkattn_coopmat_variant(128 w8_xnosm NW=8 MT=1 BC=64 OSHARED=0 EXPT_NOSM=1)
  vkattn_coopmat_variant(128 w8_xnold NW=8 MT=1 BC=64 OSHARED=0 EXPT_NOSM=1 EXPT_NOSHLD=1)
  vkattn_coopmat_variant(128 w8_xnoglob NW=8 MT=1 BC=64 OSHARED=0 EXPT_NOSM=1 EXPT_NOGLOB=1)
  vkattn_coopmat_variant(128 w8_xmma NW=8 MT=1 BC=64 OSHARED=0 EXPT_NOSM=1 EXPT_NOSHLD=1 EXPT_NOGLOB=1)
  vkattn_coopmat_variant(128 w4_xmma NW=4 MT=1 BC=64 OSHARED=0 EXPT_NOSM=1 EXPT_NOSHLD=1 EXPT_NOGLOB=1)
  # Without spirv-opt, to measure what the unrolling buys.
  vkattn_shader(attention_coopmat_f16_d128_w8_xnoopt attention_coopmat.comp
                DEFINES HD=128 NW=8 MT=1 BC=64 OSHARED=0 TARGET_ENV vulkan1.2)
  vkattn_shader(attention_coopmat_f16_d48_xnoopt attention_coopmat.comp
                DEFINES HD=48 NW=4 MT=1 BC=64 OSHARED=1 TARGET_ENV vulkan1.2)
  unset(VKATTN_SHADER_TUNING)
endif()
