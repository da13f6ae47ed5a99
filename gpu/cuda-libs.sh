# Sourced by gpu/run-gpu-check.sh and gpu/run-train-check.sh (bash): finds the CUDA 13 libraries the
# bindings link against (the toolkit's folders, then pip's nvidia wheels, then the driver's and the
# system's folders), reports each through the caller's `say`, and puts their folders first on
# LD_LIBRARY_PATH. Sets CANDIDATES and LIBPATH.
CANDIDATES="/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib"
CANDIDATES="$CANDIDATES $(ls -d /usr/local/cuda-13*/lib64 /usr/local/cuda-13*/targets/x86_64-linux/lib 2>/dev/null | tr '\n' ' ')"
CANDIDATES="$CANDIDATES $(python3 -c 'import glob, site
print(" ".join(sorted({d for s in site.getsitepackages() for d in glob.glob(s + "/nvidia/*/lib")})))' 2>/dev/null)"
CANDIDATES="$CANDIDATES /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64"
LIBPATH=""
for lib in libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnvrtc.so.13; do
  found=""
  for d in $CANDIDATES; do
    if [ -e "$d/$lib" ]; then
      found=$d
      case ":$LIBPATH:" in *":$d:"*) ;; *) LIBPATH="$LIBPATH:$d" ;; esac
      break
    fi
  done
  say "cuda library $lib: ${found:-NOT FOUND}"
done
export LD_LIBRARY_PATH="${LIBPATH#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
