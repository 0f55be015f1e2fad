# Included right after CUDA is enabled: CUDA C++20 for every .cu file. CMake 3.25 (Debian 12)
# knows no C++20 flag for nvcc ≥ 12.x and would refuse CUDA_STANDARD 20; tell it the flag.
if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()
set(CMAKE_CUDA_STANDARD 20)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
set(CMAKE_CUDA_EXTENSIONS OFF)
