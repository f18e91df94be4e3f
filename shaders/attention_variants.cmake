# Portable attention variants: attention_<in dtype>[_o<out dtype>]. The head
# dim bucket and the tiling are specialization constants (ops/attention.cpp).
vkattn_shader(attention_f32 attention.comp DEFINES IN_DTYPE=0 OUT_DTYPE=0)
vkattn_shader(attention_f16 attention.comp DEFINES IN_DTYPE=1 OUT_DTYPE=1)
vkattn_shader(attention_f16_of32 attention.comp DEFINES IN_DTYPE=1 OUT_DTYPE=0)
vkattn_shader(attention_bf16 attention.comp DEFINES IN_DTYPE=2 OUT_DTYPE=2)
vkattn_shader(attention_bf16_of32 attention.comp DEFINES IN_DTYPE=2 OUT_DTYPE=0)
# Split-KV reduction, by output dtype.
vkattn_shader(attention_combine_f32 attention_combine.comp DEFINES OUT_DTYPE=0)
vkattn_shader(attention_combine_f16 attention_combine.comp DEFINES OUT_DTYPE=1)
vkattn_shader(attention_combine_bf16 attention_combine.comp DEFINES OUT_DTYPE=2)
# Contiguous-head-dim fast variants (vectorised loads, larger register tiles).
vkattn_shader(attention_fast_f32 attention_fast.comp DEFINES IN_DTYPE=0 OUT_DTYPE=0)
vkattn_shader(attention_fast_f16 attention_fast.comp DEFINES IN_DTYPE=1 OUT_DTYPE=1)
vkattn_shader(attention_fast_f16_of32 attention_fast.comp DEFINES IN_DTYPE=1 OUT_DTYPE=0)
vkattn_shader(attention_fast_bf16 attention_fast.comp DEFINES IN_DTYPE=2 OUT_DTYPE=2)
vkattn_shader(attention_fast_bf16_of32 attention_fast.comp DEFINES IN_DTYPE=2 OUT_DTYPE=0)
# Tuning builds: ablations of the fast kernel (timing only, wrong results on
# purpose), picked with VKATTN_ATTN_FAST_VARIANT=abl<N> (see attention_fast.comp).
if(VKATTN_TUNING_VARIANTS)
  set(VKATTN_SHADER_TUNING ON)
  foreach(a 1 2 3 4)
    vkattn_shader(attention_fast_f16_abl${a} attention_fast.comp DEFINES IN_DTYPE=1 OUT_DTYPE=1 ABL=${a})
  endforeach()
  unset(VKATTN_SHADER_TUNING)
endif()
