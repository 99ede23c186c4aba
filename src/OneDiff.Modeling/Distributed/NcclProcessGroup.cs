using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Distributed;

/// <summary>
/// Collectives of CUDA tensors over NCCL (<c>libnccl.so.2</c>: the one PyTorch's CUDA installs ship
/// in <c>nvidia/nccl/lib</c>, a system NCCL, or <c>ONEDIFF_NCCL_LIBRARY</c>). Rank 0 makes the
/// communicator's unique id and MPI broadcasts it, as Horovod does. The calls go on CUDA's legacy
/// default stream, the one libtorch computes on when no other is set, so they are ordered after the
/// backward pass that made the gradients and before the update that reads them, with no wait on
/// the host. NCCL's own asynchronous errors (a peer gone, a failed link) are polled by the
/// watchdog, which then ends the job.
/// </summary>
public sealed unsafe class NcclProcessGroup : ProcessGroup
{
    [StructLayout(LayoutKind.Sequential, Size = 128)]
    struct UniqueId { public fixed byte Bytes[128]; }

    const int Float16 = 6, Float32 = 7, Float64 = 8, BFloat16 = 9, Sum = 0;

    static IntPtr _library;
    static delegate* unmanaged<UniqueId*, int> _getUniqueId;
    static delegate* unmanaged<IntPtr*, int, UniqueId, int, int> _commInitRank;
    static delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> _allReduce;
    static delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, int, IntPtr, IntPtr, int> _reduce;
    static delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> _broadcast;
    static delegate* unmanaged<IntPtr, int> _commDestroy, _commAbort;
    static delegate* unmanaged<IntPtr, int*, int> _asyncError;
    static delegate* unmanaged<int, IntPtr> _errorString;

    IntPtr _comm;
    readonly Device _device;

    public NcclProcessGroup(LaunchEnvironment launch, Device device, TimeSpan timeout) : base(launch, timeout)
    {
        _device = device;
        StartMpi();
        int rank = launch.Rank, size = launch.Size;
        Load();
        UniqueId id;
        if (rank == 0) Check(_getUniqueId(&id), "ncclGetUniqueId");
        if (UsesMpi) OpenMpi.Broadcast((IntPtr)(&id), sizeof(UniqueId), OpenMpi.Byte, 0);
        IntPtr comm;
        // NCCL works on the thread's current CUDA device, which libtorch's allocations leave as it
        // was: set it to the one this process trains on (cuda:{local rank}).
        SetCurrentDevice(device.index < 0 ? 0 : (int)device.index);
        Check(_commInitRank(&comm, size, id, rank), "ncclCommInitRank");
        _comm = comm;
    }

    public override string Engine => "NCCL";
    public override int DefaultBucketMegabytes => 25;

    static void Load()
    {
        if (_library != IntPtr.Zero) return;
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("ONEDIFF_NCCL_LIBRARY") is { Length: > 0 } explicitPath) candidates.Add(explicitPath);
        candidates.Add("libnccl.so.2");
        // Beside libtorch, as PyTorch's wheels lay it out (site-packages/nvidia/nccl/lib).
        if (Environment.GetEnvironmentVariable("TORCH_LIB") is { Length: > 0 } torchLib)
            candidates.Add(Path.Combine(torchLib, "..", "..", "nvidia", "nccl", "lib", "libnccl.so.2"));
        foreach (var c in candidates)
            if (NativeLibrary.TryLoad(c, out _library)) break;
        if (_library == IntPtr.Zero)
            throw new DllNotFoundException($"NCCL (libnccl.so.2) was not found ({string.Join(", ", candidates)}): install it (PyTorch's CUDA wheels ship it as nvidia-nccl-cu12) " +
                "or set ONEDIFF_NCCL_LIBRARY to its path");
        IntPtr F(string symbol) => NativeLibrary.GetExport(_library, symbol);
        _getUniqueId = (delegate* unmanaged<UniqueId*, int>)F("ncclGetUniqueId");
        _commInitRank = (delegate* unmanaged<IntPtr*, int, UniqueId, int, int>)F("ncclCommInitRank");
        _allReduce = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)F("ncclAllReduce");
        _reduce = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, int, IntPtr, IntPtr, int>)F("ncclReduce");
        _broadcast = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)F("ncclBroadcast");
        _commDestroy = (delegate* unmanaged<IntPtr, int>)F("ncclCommDestroy");
        _commAbort = (delegate* unmanaged<IntPtr, int>)F("ncclCommAbort");
        _asyncError = (delegate* unmanaged<IntPtr, int*, int>)F("ncclCommGetAsyncError");
        _errorString = (delegate* unmanaged<int, IntPtr>)F("ncclGetErrorString");
    }

    static void SetCurrentDevice(int index)
    {
        // libtorch's CUDA build loads the CUDA runtime; it is found here by soname.
        foreach (var name in new[] { "libcudart.so.12", "libcudart.so.11.0", "libcudart.so" })
        {
            if (!NativeLibrary.TryLoad(name, out var cudart)) continue;
            var setDevice = (delegate* unmanaged<int, int>)NativeLibrary.GetExport(cudart, "cudaSetDevice");
            int error = setDevice(index);
            if (error != 0) throw new InvalidOperationException($"cudaSetDevice({index}) failed with CUDA error {error}");
            return;
        }
        throw new DllNotFoundException("the CUDA runtime (libcudart) is not in this process: NCCL needs libtorch's CUDA build (TorchSharp-cuda-linux)");
    }

    static void Check(int result, string call)
    {
        if (result != 0) throw new InvalidOperationException($"{call} failed: {Marshal.PtrToStringAnsi(_errorString(result))} (NCCL error {result})");
    }

    (IntPtr Pointer, nuint Count, int Type) Buffer(Tensor t)
    {
        if (t.device_type != DeviceType.CUDA) throw new ArgumentException($"NCCL carries CUDA tensors; this one is on {t.device}", nameof(t));
        int type = t.dtype switch
        {
            ScalarType.Float32 => Float32, ScalarType.BFloat16 => BFloat16, ScalarType.Float16 => Float16, ScalarType.Float64 => Float64,
            _ => throw new ArgumentException($"NCCL here carries floating-point tensors, not {t.dtype}", nameof(t)),
        };
        return (Runtime.TensorData.Pointer(t), (nuint)t.numel(), type);
    }

    // Stream 0: CUDA's legacy default stream, libtorch's current stream unless a program sets another.
    protected override void AllReduceSumCore(Tensor t)
    {
        var (p, n, type) = Buffer(t);
        Check(_allReduce(p, p, n, type, Sum, _comm, IntPtr.Zero), "ncclAllReduce");
    }

    protected override void ReduceSumCore(Tensor t, int root)
    {
        var (p, n, type) = Buffer(t);
        Check(_reduce(p, p, n, type, Sum, root, _comm, IntPtr.Zero), "ncclReduce");
    }

    protected override void BroadcastCore(Tensor t, int root)
    {
        var (p, n, type) = Buffer(t);
        Check(_broadcast(p, p, n, type, root, _comm, IntPtr.Zero), "ncclBroadcast");
    }

    protected override void CheckAsyncErrors()
    {
        if (_comm == IntPtr.Zero) return;
        int error;
        if (_asyncError(_comm, &error) == 0 && error != 0)
        {
            _commAbort(_comm);
            Abort($"NCCL reported {Marshal.PtrToStringAnsi(_errorString(error))} (a peer lost, or a link failed)");
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        if (_comm != IntPtr.Zero) { _commDestroy(_comm); _comm = IntPtr.Zero; }
    }
}
