# cmake -DIN=x.spv -DOUT=x.spv.h -DNAME=var -P spv_to_header.cmake
# Writes the SPIR-V words of IN as `const uint32_t NAME[]` (little-endian
# words, as glslangValidator --vn does) for modules that went through spirv-opt.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR rem "${n} % 8")
if(n EQUAL 0 OR NOT rem EQUAL 0)
  message(FATAL_ERROR "${IN}: not a SPIR-V module (${n} hex digits)")
endif()
string(REGEX REPLACE "([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])"
       "0x\\4\\3\\2\\1," words "${hex}")
string(REGEX REPLACE "((0x[0-9a-f]+,){8})" "\\1\n\t" words "${words}")
file(WRITE "${OUT}" "#pragma once\nconst uint32_t ${NAME}[] = {\n\t${words}\n};\n")
