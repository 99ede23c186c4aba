using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Distributed;

/// <summary>
/// The processes of one data-parallel job and the collectives between them, on an existing engine:
/// MPI for tensors on the CPU (<see cref="MpiProcessGroup"/>), NCCL for tensors on CUDA
/// (<see cref="NcclProcessGroup"/>, its unique id handed out over MPI, as Horovod does). Values on
/// the host (a flag, a count) always go over MPI. Every rank calls the same collectives in the same
/// order. A collective that waits longer than <see cref="Timeout"/> for the other ranks ends the
/// whole job, naming this rank, rather than hang: a lost rank is normally noticed by the launcher
/// (mpirun, srun) first, which ends the job itself.
/// </summary>
public abstract class ProcessGroup : IDisposable
{
    readonly Timer _watchdog;
    readonly object _gate = new();
    (string What, DateTime Since)? _waiting;

    protected ProcessGroup(LaunchEnvironment launch, TimeSpan timeout)
    {
        Launch = launch;
        Timeout = timeout;
        _watchdog = new Timer(_ => CheckWaiting(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    /// <summary>Whether MPI runs in this process: always in a job of several ranks; for one rank
    /// only where Open MPI is installed (a job of one needs nothing from it, and the GPU machines
    /// have NCCL but not always MPI).</summary>
    protected bool UsesMpi { get; private set; }

    /// <summary>Starts MPI and checks that it sees the job the launcher's environment describes.</summary>
    protected void StartMpi()
    {
        (int Rank, int Size) world;
        try { world = OpenMpi.Start(); }
        catch (DllNotFoundException) when (Launch.Size == 1) { return; }
        if (world.Rank != Launch.Rank || world.Size != Launch.Size)
            throw new InvalidOperationException($"MPI says rank {world.Rank} of {world.Size}, the launcher's environment {Launch}: the job was not started by one launcher");
        UsesMpi = true;
    }

    public LaunchEnvironment Launch { get; }
    public int Rank => Launch.Rank;
    public int Size => Launch.Size;
    /// <summary>How long a collective may wait for the other ranks before the job is ended.</summary>
    public TimeSpan Timeout { get; }
    /// <summary>"MPI" or "NCCL": what carries the tensors.</summary>
    public abstract string Engine { get; }
    /// <summary>The gradient bucket that suits the engine: NCCL 25 MB (PyTorch DDP's); MPI 4 MB, where
    /// on this project's CPU machines a 25 MB sum takes ten times as long per byte (docs/benchmarks.md).</summary>
    public abstract int DefaultBucketMegabytes { get; }

    /// <summary>Starts the group for a run on <paramref name="device"/>: NCCL for CUDA, MPI for the
    /// CPU, where the ranks on one machine also share its cores (each takes its part of them for
    /// libtorch's threads, as torchrun does, instead of every rank starting one per core).</summary>
    public static ProcessGroup Start(LaunchEnvironment launch, Device device, TimeSpan timeout)
    {
        if (device.type == DeviceType.CUDA) return new NcclProcessGroup(launch, device, timeout);
        if (launch.LocalSize > 1) torch.set_num_threads(Math.Max(1, Environment.ProcessorCount / launch.LocalSize));
        return new MpiProcessGroup(launch, timeout);
    }

    /// <summary>Sums the contiguous tensor <paramref name="t"/> over every rank, in place.</summary>
    public void AllReduceSum(Tensor t) => Watch("all-reduce", () => AllReduceSumCore(t));
    /// <summary>Sums <paramref name="t"/> over every rank into <paramref name="root"/>'s copy (the others' are left as they were or overwritten).</summary>
    public void ReduceSum(Tensor t, int root) => Watch("reduce", () => ReduceSumCore(t, root));
    /// <summary>Copies <paramref name="root"/>'s <paramref name="t"/> into every rank's.</summary>
    public void Broadcast(Tensor t, int root) => Watch("broadcast", () => BroadcastCore(t, root));

    protected abstract void AllReduceSumCore(Tensor t);
    protected abstract void ReduceSumCore(Tensor t, int root);
    protected abstract void BroadcastCore(Tensor t, int root);

    /// <summary>Sums host values over every rank (MPI), in place.</summary>
    public unsafe void AllReduceSum(double[] values) => Watch("all-reduce of host values", () =>
    {
        if (!UsesMpi) return; // one rank: the sum is its own
        fixed (double* p = values) OpenMpi.AllReduceSum((IntPtr)p, values.Length, OpenMpi.Double);
    });

    /// <summary>Whether any rank says yes: a decision every rank then takes together (to stop, say).</summary>
    public bool Any(bool mine)
    {
        var v = new[] { mine ? 1.0 : 0.0 };
        AllReduceSum(v);
        return v[0] > 0;
    }

    public void Barrier() => Watch("barrier", () => { if (UsesMpi) OpenMpi.Barrier(); });

    /// <summary>Ends every process of the job at once, after saying why on stderr: what a rank does
    /// when it fails, so that the others do not wait for it in their next collective.</summary>
    public void Abort(string reason, int code = 1) => AbortJob(Rank, Size, reason, code, fromWatchdog: false);

    void AbortJob(int rank, int size, string reason, int code, bool fromWatchdog)
    {
        Console.Error.WriteLine($"rank {rank} of {size}: {reason}; ending the job so that no rank waits for this one");
        Console.Error.Flush();
        // The launcher forwards a process's output on its own time, and stops once it ends the job:
        // a moment for the line above to reach the job's output.
        Thread.Sleep(500);
        // MPI_Abort from the watchdog's thread needs MPI_THREAD_MULTIPLE; without it the process
        // ends itself, which the launcher notices and answers by ending the others.
        if (!UsesMpi || (fromWatchdog && !OpenMpi.AbortFromAnyThread)) System.Diagnostics.Process.GetCurrentProcess().Kill();
        OpenMpi.Abort(code);
    }

    void Watch(string what, Action call)
    {
        lock (_gate) _waiting = (what, DateTime.UtcNow);
        try { call(); }
        finally { lock (_gate) _waiting = null; }
    }

    void CheckWaiting()
    {
        (string What, DateTime Since)? waiting;
        lock (_gate) waiting = _waiting;
        if (waiting is { } w && DateTime.UtcNow - w.Since > Timeout)
            AbortJob(Rank, Size, $"the {w.What} waited {Timeout.TotalSeconds:F0} s for the other ranks (a rank is lost or stuck)", 1, fromWatchdog: true);
        CheckAsyncErrors();
    }

    /// <summary>Where the engine reports failures on its own (NCCL), checked every second.</summary>
    protected virtual void CheckAsyncErrors() { }

    public virtual void Dispose()
    {
        _watchdog.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>Collectives of CPU tensors over MPI (float32 and float64 sums; any dtype broadcast as bytes).</summary>
public sealed class MpiProcessGroup : ProcessGroup
{
    public MpiProcessGroup(LaunchEnvironment launch, TimeSpan timeout) : base(launch, timeout) => StartMpi();

    public override string Engine => "MPI";
    public override int DefaultBucketMegabytes => 4;

    static (IntPtr Pointer, int Count, IntPtr Type) Buffer(Tensor t, bool sum)
    {
        if (t.device_type != DeviceType.CPU) throw new ArgumentException($"MPI carries CPU tensors; this one is on {t.device}", nameof(t));
        if (t.numel() > int.MaxValue) throw new ArgumentException("a tensor of more than 2^31 elements goes in buckets", nameof(t));
        var type = t.dtype switch
        {
            ScalarType.Float32 => OpenMpi.Float,
            ScalarType.Float64 => OpenMpi.Double,
            _ when !sum => OpenMpi.Byte,
            _ => throw new ArgumentException($"MPI sums float32 and float64 tensors here, not {t.dtype}", nameof(t)),
        };
        long count = type == OpenMpi.Byte ? t.numel() * t.element_size() : t.numel();
        if (count > int.MaxValue) throw new ArgumentException("a tensor of more than 2^31 bytes is broadcast in buckets", nameof(t));
        return (Runtime.TensorData.Pointer(t), (int)count, type);
    }

    protected override void AllReduceSumCore(Tensor t)
    {
        var (p, n, type) = Buffer(t, sum: true);
        if (UsesMpi) OpenMpi.AllReduceSum(p, n, type);
    }

    protected override void ReduceSumCore(Tensor t, int root)
    {
        var (p, n, type) = Buffer(t, sum: true);
        if (UsesMpi) OpenMpi.ReduceSum(p, n, type, root, Rank);
    }

    protected override void BroadcastCore(Tensor t, int root)
    {
        var (p, n, type) = Buffer(t, sum: false);
        if (UsesMpi) OpenMpi.Broadcast(p, n, type, root);
    }
}
