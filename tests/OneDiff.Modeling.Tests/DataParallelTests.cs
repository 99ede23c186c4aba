using OneDiff.Modeling.Distributed;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Training;
using Xunit;

namespace OneDiff.Modeling.Tests;

/// <summary>The parts of data-parallel training that need no second process (the rest run under
/// mpirun in the CLI tests).</summary>
public class DataParallelTests
{
    [Fact]
    public void TheLauncherIsReadFromTheVariablesOpenMpiAndSlurmSet()
    {
        var ompi = LaunchEnvironment.Detect(new Dictionary<string, string?>
        {
            ["OMPI_COMM_WORLD_RANK"] = "5", ["OMPI_COMM_WORLD_SIZE"] = "8", ["OMPI_COMM_WORLD_LOCAL_RANK"] = "1", ["OMPI_COMM_WORLD_LOCAL_SIZE"] = "4", ["SLURM_PROCID"] = "0",
        });
        Assert.Equal(new LaunchEnvironment(5, 1, 8, "Open MPI (mpirun)") { LocalSize = 4 }, ompi);
        var srun = LaunchEnvironment.Detect(new Dictionary<string, string?>
        {
            ["SLURM_STEP_ID"] = "0", ["SLURM_PROCID"] = "9", ["SLURM_STEP_NUM_TASKS"] = "16", ["SLURM_LOCALID"] = "1", ["SLURM_NTASKS"] = "16",
            ["SLURM_STEP_TASKS_PER_NODE"] = "8(x2)",
        });
        Assert.Equal(new LaunchEnvironment(9, 1, 16, "Slurm (srun)") { LocalSize = 8 }, srun);
        // An sbatch script itself (no job step) is one process, whatever SLURM_NTASKS says.
        Assert.Equal(LaunchEnvironment.Single, LaunchEnvironment.Detect(new Dictionary<string, string?> { ["SLURM_PROCID"] = "0", ["SLURM_NTASKS"] = "8" }));
        Assert.Equal(LaunchEnvironment.Single, LaunchEnvironment.Detect(new Dictionary<string, string?>()));
        Assert.True(LaunchEnvironment.Single.IsMain);
        Assert.Equal("Open MPI (mpirun) says rank 4 (local 0) of 4: not a valid place in a job",
            Assert.Throws<InvalidOperationException>(() => LaunchEnvironment.Detect(new Dictionary<string, string?> { ["OMPI_COMM_WORLD_RANK"] = "4", ["OMPI_COMM_WORLD_SIZE"] = "4" })).Message);
    }

    [Fact]
    public void OwnersShareTheOptimizerStateEvenlyAndAlikeOnEveryRank()
    {
        var sizes = Enumerable.Range(0, 40).Select(i => ($"p{i:D2}", (long)(1 + i * 37 % 11) * 1000)).ToList();
        var owners = DataParallel.Owners(sizes, 4);
        Assert.Equal(owners, DataParallel.Owners(sizes.AsEnumerable().Reverse().ToList(), 4)); // the order given does not matter
        var load = sizes.GroupBy(s => owners[s.Item1]).ToDictionary(g => g.Key, g => g.Sum(s => s.Item2));
        Assert.Equal([0, 1, 2, 3], load.Keys.Order());
        Assert.True(load.Values.Max() - load.Values.Min() <= sizes.Max(s => s.Item2), string.Join(", ", load.Values));
        // On the Vicuna-7B preset trained whole, the busiest of 8 ranks holds about an eighth.
        var full = TrainingMemory.Of(OneDiffConfig.Vicuna7B, TrainingStage.InstructionTuning, null, TorchSharp.torch.ScalarType.BFloat16, masterWeights: true);
        var eighth = TrainingMemory.Of(OneDiffConfig.Vicuna7B, TrainingStage.InstructionTuning, null, TorchSharp.torch.ScalarType.BFloat16, masterWeights: true, optimizerShards: 8);
        Assert.Equal((full.WeightBytes, full.GradientBytes), (eighth.WeightBytes, eighth.GradientBytes));
        Assert.InRange(eighth.OptimizerBytes / (double)full.OptimizerBytes, 0.125, 0.135);
    }

    [Fact]
    public void EachRankTakesEveryNthExampleOfAGlobalMicroBatch()
    {
        // As PyTorch's DistributedSampler deals an epoch: the shares of a micro-batch make it up,
        // and an uneven one leaves the last ranks one fewer (or none).
        int[] global = [7, 3, 9, 1, 4];
        var shares = Enumerable.Range(0, 3).Select(r => Share(r, 3, global)).ToList();
        Assert.Equal([[7, 1], [3, 4], [9]], shares);
        Assert.Equal(global.Order(), shares.SelectMany(s => s).Order());
        Assert.Empty(Share(1, 2, [8]));
    }

    static int[] Share(int rank, int size, int[] global)
    {
        // A stand-in group: Share reads only the rank and the size.
        var parallel = new DataParallel(new FakeGroup(new LaunchEnvironment(rank, rank, size, "test")));
        return parallel.Share(global);
    }

    sealed class FakeGroup(LaunchEnvironment launch) : ProcessGroup(launch, TimeSpan.FromMinutes(1))
    {
        public override string Engine => "none";
        public override int DefaultBucketMegabytes => 1;
        protected override void AllReduceSumCore(TorchSharp.torch.Tensor t) => throw new NotSupportedException();
        protected override void ReduceSumCore(TorchSharp.torch.Tensor t, int root) => throw new NotSupportedException();
        protected override void BroadcastCore(TorchSharp.torch.Tensor t, int root) => throw new NotSupportedException();
    }
}
