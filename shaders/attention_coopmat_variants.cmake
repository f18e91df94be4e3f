# Attention on NV cooperative matrices (ops/attention_coopmat.cpp):
#   attention_coopmat_f16_d<HD>[_w8][_t8][_m2]
# f16 in, f16 out; HD is the head-dim bucket (max(D, Dv) rounded up to 16);
# _w8: 8 warps (128 query rows) instead of 4; _t8: O rescaled only when a row
# maximum grows by more than 8 (log2 units, P <= 2^8); _m2: two 16-row tiles
# per warp. OSHARED=1 (head dims <= 80) moves O through shared memory for the
# rescale and the store, which kept it out of local memory there; above 80
# the register path measured faster. Tilings were chosen on an H200 (see
# ops/attention_coopmat.cpp). glslang declares the VulkanMemoryModel
# capability for GL_NV_cooperative_matrix.
foreach(hd 16 32 48 64 80)
  vkattn_shader(attention_coopmat_f16_d${hd} attention_coopmat.comp
                DEFINES HD=${hd} NW=4 MT=1 BC=64 OSHARED=1 TARGET_ENV vulkan1.2)
endforeach()
foreach(hd 96 112 128)
  vkattn_shader(attention_coopmat_f16_d${hd} attention_coopmat.comp
                DEFINES HD=${hd} NW=4 MT=1 BC=64 OSHARED=0 TARGET_ENV vulkan1.2)
  vkattn_shader(attention_coopmat_f16_d${hd}_w8 attention_coopmat.comp
                DEFINES HD=${hd} NW=8 MT=1 BC=64 OSHARED=0 TARGET_ENV vulkan1.2)
  vkattn_shader(attention_coopmat_f16_d${hd}_w8_t8 attention_coopmat.comp
                DEFINES HD=${hd} NW=8 MT=1 BC=64 OSHARED=1 TAU=8 TARGET_ENV vulkan1.2)
endforeach()
foreach(hd 48 64 80)
  vkattn_shader(attention_coopmat_f16_d${hd}_w8_t8 attention_coopmat.comp
                DEFINES HD=${hd} NW=8 MT=1 BC=64 OSHARED=1 TAU=8 TARGET_ENV vulkan1.2)
  vkattn_shader(attention_coopmat_f16_d${hd}_w8 attention_coopmat.comp
                DEFINES HD=${hd} NW=8 MT=1 BC=64 OSHARED=1 TARGET_ENV vulkan1.2)
endforeach()
vkattn_shader(attention_coopmat_f16_d48_m2 attention_coopmat.comp
              DEFINES HD=48 NW=4 MT=2 BC=64 OSHARED=1 TARGET_ENV vulkan1.2)
vkattn_shader(attention_coopmat_f16_d64_m2 attention_coopmat.comp
              DEFINES HD=64 NW=4 MT=2 BC=64 OSHARED=1 TARGET_ENV vulkan1.2)
vkattn_shader(attention_coopmat_probe attention_coopmat_probe.comp TARGET_ENV vulkan1.2)
