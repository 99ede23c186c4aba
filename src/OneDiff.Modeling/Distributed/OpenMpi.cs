using System.Runtime.InteropServices;

namespace OneDiff.Modeling.Distributed;

/// <summary>
/// Open MPI's C library (<c>libmpi.so.40</c>, Debian's <c>openmpi-bin</c>/<c>libopenmpi-dev</c>),
/// called through function pointers. Open MPI's handles (<c>MPI_COMM_WORLD</c>, <c>MPI_FLOAT</c>,
/// <c>MPI_SUM</c>) are the addresses of its predefined objects, so they are looked up by symbol;
/// MPICH's are integers, so another MPI would need its own table here. The library is opened
/// with RTLD_GLOBAL, as mpi4py does, so that Open MPI's plugins find its symbols. MPI is started
/// once per process and finalised when the process exits (mpirun counts a process that exits
/// without finalising as failed).
/// </summary>
internal static unsafe class OpenMpi
{
    /// <summary>MPI_THREAD_MULTIPLE: the training thread runs the collectives, and the watchdog
    /// thread may end the job (MPI_Abort) while one of them waits.</summary>
    public const int ThreadMultiple = 3;
    public static readonly IntPtr InPlace = 1; // Open MPI's MPI_IN_PLACE

    static readonly object Gate = new();
    static IntPtr _library;
    static bool _started;

    /// <summary>Whether MPI may be called from a second thread while one waits (else a watchdog ends the process itself).</summary>
    public static bool AbortFromAnyThread { get; private set; }

    public static IntPtr CommWorld { get; private set; }
    public static IntPtr Float { get; private set; }
    public static IntPtr Double { get; private set; }
    public static IntPtr Byte { get; private set; }
    public static IntPtr Sum { get; private set; }

    static delegate* unmanaged<int*, byte***, int, int*, int> _initThread;
    static delegate* unmanaged<int*, int> _initialized, _finalized;
    static delegate* unmanaged<int> _finalize;
    static delegate* unmanaged<IntPtr, int*, int> _commRank, _commSize;
    static delegate* unmanaged<IntPtr, IntPtr, int, IntPtr, IntPtr, IntPtr, int> _allreduce;
    static delegate* unmanaged<IntPtr, IntPtr, int, IntPtr, IntPtr, int, IntPtr, int> _reduce;
    static delegate* unmanaged<IntPtr, int, IntPtr, int, IntPtr, int> _bcast;
    static delegate* unmanaged<IntPtr, int> _barrier;
    static delegate* unmanaged<IntPtr, int, int> _abort;

    [DllImport("libc", EntryPoint = "dlopen")] static extern IntPtr DlOpen(string file, int flags);
    [DllImport("libc", EntryPoint = "dlerror")] static extern IntPtr DlError();

    /// <summary>Where the library was looked for, for the error when it is not there.</summary>
    public const string Install = "Open MPI's library (libmpi.so.40) is not installed: on Debian or Ubuntu, apt-get install openmpi-bin libopenmpi-dev";

    /// <summary>Starts MPI in this process (once) and returns (rank, size) in MPI_COMM_WORLD.</summary>
    public static (int Rank, int Size) Start()
    {
        lock (Gate)
        {
            if (!_started)
            {
                Load();
                int already;
                Check(_initialized(&already), "MPI_Initialized");
                if (already == 0)
                {
                    int provided;
                    Check(_initThread(null, null, ThreadMultiple, &provided), "MPI_Init_thread");
                    AbortFromAnyThread = provided >= ThreadMultiple;
                    AppDomain.CurrentDomain.ProcessExit += (_, _) => Finish();
                }
                _started = true;
            }
            int rank, size;
            Check(_commRank(CommWorld, &rank), "MPI_Comm_rank");
            Check(_commSize(CommWorld, &size), "MPI_Comm_size");
            return (rank, size);
        }
    }

    static void Finish()
    {
        int done;
        if (_finalized(&done) == 0 && done == 0) _finalize();
    }

    static void Load()
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("data-parallel training over MPI runs on Linux (Open MPI)");
        string name = Environment.GetEnvironmentVariable("ONEDIFF_MPI_LIBRARY") is { Length: > 0 } explicitPath ? explicitPath : "libmpi.so.40";
        _library = DlOpen(name, 0x2 | 0x100); // RTLD_NOW | RTLD_GLOBAL
        if (_library == IntPtr.Zero)
            throw new DllNotFoundException($"{Install} ({name}: {Marshal.PtrToStringAnsi(DlError())})");
        IntPtr F(string symbol) => NativeLibrary.GetExport(_library, symbol);
        _initThread = (delegate* unmanaged<int*, byte***, int, int*, int>)F("MPI_Init_thread");
        _initialized = (delegate* unmanaged<int*, int>)F("MPI_Initialized");
        _finalized = (delegate* unmanaged<int*, int>)F("MPI_Finalized");
        _finalize = (delegate* unmanaged<int>)F("MPI_Finalize");
        _commRank = (delegate* unmanaged<IntPtr, int*, int>)F("MPI_Comm_rank");
        _commSize = (delegate* unmanaged<IntPtr, int*, int>)F("MPI_Comm_size");
        _allreduce = (delegate* unmanaged<IntPtr, IntPtr, int, IntPtr, IntPtr, IntPtr, int>)F("MPI_Allreduce");
        _reduce = (delegate* unmanaged<IntPtr, IntPtr, int, IntPtr, IntPtr, int, IntPtr, int>)F("MPI_Reduce");
        _bcast = (delegate* unmanaged<IntPtr, int, IntPtr, int, IntPtr, int>)F("MPI_Bcast");
        _barrier = (delegate* unmanaged<IntPtr, int>)F("MPI_Barrier");
        _abort = (delegate* unmanaged<IntPtr, int, int>)F("MPI_Abort");
        CommWorld = F("ompi_mpi_comm_world");
        Float = F("ompi_mpi_float");
        Double = F("ompi_mpi_double");
        Byte = F("ompi_mpi_byte");
        Sum = F("ompi_mpi_op_sum");
    }

    static void Check(int code, string call)
    {
        // MPI_COMM_WORLD's default error handler aborts the job on a failed call, so a code other
        // than MPI_SUCCESS arrives here only where a user installed another handler.
        if (code != 0) throw new InvalidOperationException($"{call} failed with MPI error {code}");
    }

    public static void AllReduceSum(IntPtr buffer, int count, IntPtr type) => Check(_allreduce(InPlace, buffer, count, type, Sum, CommWorld), "MPI_Allreduce");

    /// <summary>Sums <paramref name="buffer"/> of every rank into <paramref name="root"/>'s, in place there.</summary>
    public static void ReduceSum(IntPtr buffer, int count, IntPtr type, int root, int rank) =>
        Check(rank == root ? _reduce(InPlace, buffer, count, type, Sum, root, CommWorld) : _reduce(buffer, IntPtr.Zero, count, type, Sum, root, CommWorld), "MPI_Reduce");

    public static void Broadcast(IntPtr buffer, int count, IntPtr type, int root) => Check(_bcast(buffer, count, type, root, CommWorld), "MPI_Bcast");

    public static void Barrier() => Check(_barrier(CommWorld), "MPI_Barrier");

    /// <summary>Ends every process of the job (mpirun names this rank and the code).</summary>
    public static void Abort(int code) => _abort(CommWorld, code);
}
