namespace OneDiff.Modeling.Distributed;

/// <summary>
/// Where this process stands in a job started by a launcher: its rank, its rank on this machine
/// (which GPU it takes) and how many processes there are, read from the variables the launcher
/// sets: Open MPI's <c>mpirun</c> (<c>OMPI_COMM_WORLD_*</c>), Slurm's <c>srun</c>
/// (<c>SLURM_PROCID</c>, <c>SLURM_LOCALID</c>, <c>SLURM_STEP_NUM_TASKS</c> inside a job step), or any PMIx launcher
/// (<c>PMIX_RANK</c> with the size from Open MPI or Slurm). Without one: rank 0 of 1.
/// </summary>
public sealed record LaunchEnvironment(int Rank, int LocalRank, int Size, string Launcher)
{
    /// <summary>How many ranks of the job run on this machine (they share its cores).</summary>
    public int LocalSize { get; init; } = 1;

    public static LaunchEnvironment Single { get; } = new(0, 0, 1, "none");

    /// <summary>Whether this process writes: logs, checkpoints and the saved model come from rank 0 only.</summary>
    public bool IsMain => Rank == 0;

    /// <summary>The job this process was started in, from <paramref name="environment"/> (null: the process's).</summary>
    public static LaunchEnvironment Detect(IReadOnlyDictionary<string, string?>? environment = null)
    {
        string? Get(string name) => environment is null ? Environment.GetEnvironmentVariable(name) : environment.GetValueOrDefault(name);
        int? Int(string name) => int.TryParse(Get(name), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int v) ? v : null;

        if (Int("OMPI_COMM_WORLD_RANK") is int ompiRank && Int("OMPI_COMM_WORLD_SIZE") is int ompiSize)
            return Checked(ompiRank, Int("OMPI_COMM_WORLD_LOCAL_RANK") ?? 0, ompiSize, "Open MPI (mpirun)") with { LocalSize = Int("OMPI_COMM_WORLD_LOCAL_SIZE") ?? 1 };
        // Only inside a job step (srun): an sbatch script itself also sees SLURM_PROCID and SLURM_NTASKS.
        if ((Get("SLURM_STEP_ID") ?? Get("SLURM_STEPID")) is not null
            && Int("SLURM_PROCID") is int slurmRank && (Int("SLURM_STEP_NUM_TASKS") ?? Int("SLURM_NTASKS")) is int slurmSize)
            return Checked(slurmRank, Int("SLURM_LOCALID") ?? 0, slurmSize, "Slurm (srun)") with { LocalSize = LeadingInt(Get("SLURM_STEP_TASKS_PER_NODE")) ?? 1 };
        if (Int("PMIX_RANK") is int pmixRank && Int("PMIX_SIZE") is int pmixSize)
            return Checked(pmixRank, Int("PMIX_LOCAL_RANK") ?? 0, pmixSize, "PMIx") with { LocalSize = Int("PMIX_LOCAL_SIZE") ?? 1 };
        return Single;
    }

    /// <summary>Slurm's tasks per node ("2(x4),1") begin with this node's count in the common case.</summary>
    static int? LeadingInt(string? text)
    {
        int n = 0, digits = 0;
        foreach (char c in text ?? "") { if (!char.IsAsciiDigit(c)) break; n = n * 10 + (c - '0'); digits++; }
        return digits > 0 ? n : null;
    }

    static LaunchEnvironment Checked(int rank, int local, int size, string launcher)
    {
        if (size < 1 || rank < 0 || rank >= size || local < 0)
            throw new InvalidOperationException($"{launcher} says rank {rank} (local {local}) of {size}: not a valid place in a job");
        return new LaunchEnvironment(rank, local, size, launcher);
    }

    public override string ToString() => Size == 1 && Launcher == "none" ? "one process" : $"rank {Rank} of {Size} (local rank {LocalRank}, {Launcher})";
}
