using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Runtime;

/// <summary>
/// The address of a tensor's first element (host or device memory), for native libraries that
/// read and write tensors in place (MPI, NCCL). TorchSharp 0.107 exposes storages of some element
/// types only, so this asks its native bridge directly (<c>THSTensor_data</c>, libtorch's
/// <c>Tensor::data_ptr</c>), which takes the storage offset into account for every dtype.
/// </summary>
public static unsafe class TensorData
{
    static readonly Lazy<IntPtr> DataFunction = new(() =>
    {
        TorchNativeLoader.EnsureLoaded();
        using (zeros(1)) { } // TorchSharp loads its bridge at its first call
        var bridge = NativeLibrary.Load(OperatingSystem.IsWindows() ? "LibTorchSharp.dll" : OperatingSystem.IsMacOS() ? "libLibTorchSharp.dylib" : "libLibTorchSharp.so");
        return NativeLibrary.GetExport(bridge, "THSTensor_data");
    });

    /// <summary>The address of <paramref name="t"/>'s first element; it must be contiguous.</summary>
    public static IntPtr Pointer(Tensor t)
    {
        if (!t.is_contiguous()) throw new ArgumentException("a native library reads a tensor in place only when it is contiguous", nameof(t));
        var p = ((delegate* unmanaged<IntPtr, IntPtr>)DataFunction.Value)(t.Handle);
        if (p == IntPtr.Zero && t.numel() > 0) throw new InvalidOperationException("libtorch gave no address for a tensor's data");
        return p;
    }
}
