using System.Diagnostics;
using System.Text;
using System.Text.Json;
using OneDiff.Cli.Commands;
using OneDiff.Modeling.Checkpoints;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Cli.Tests;

/// <summary>
/// Data-parallel training under a real launcher (Open MPI's mpirun, two processes on this CPU):
/// two ranks with micro-batch B train as one process with micro-batch 2B over the same examples,
/// resume from their checkpoints, and end together when one of them is lost.
/// </summary>
public class DistributedTrainingTests
{
    static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    /// <summary>Procedural data and a config of <paramref name="options"/> whose last step writes a
    /// checkpoint (its state.json has every step's loss, its trainable.safetensors the weights).</summary>
    static string Config(string dir, string name, string options, string checkpoints)
    {
        if (!Directory.Exists(Path.Combine(dir, "data")))
            CliRunner.Run(SynthCommand.Create(), "--out", Path.Combine(dir, "data"), "--pairs", "9", "--size", "32", "--seed", "3", "--test-every", "0");
        string path = Path.Combine(dir, name);
        File.WriteAllText(path, $"""
            train:
              - format: synthetic
                root: data
            options:
              Preset: Tiny
              Device: cpu
              WarmupFraction: 0
              StageTwoLearningRate: 0.002
              CheckpointFolder: {checkpoints}
              CheckpointEvery: 100
              KeepCheckpoints: 0
            {options}
            output: {Path.GetFileNameWithoutExtension(name)}.zip
            """);
        return path;
    }

    static string LastCheckpoint(string folder) => Directory.GetDirectories(folder, "stage2-step*").Where(d => !d.EndsWith(".partial")).Order().Last();

    static List<double> Losses(string checkpoint)
    {
        using var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(checkpoint, "state.json")));
        return state.RootElement.GetProperty("losses").EnumerateArray().Select(x => x.GetDouble()).ToList();
    }

    /// <summary>The largest difference between two checkpoints' weights, over every tensor.</summary>
    static double WeightGap(string a, string b)
    {
        using var one = SafetensorsCheckpoint.Open(Path.Combine(a, "trainable.safetensors"));
        using var two = SafetensorsCheckpoint.Open(Path.Combine(b, "trainable.safetensors"));
        Assert.Equal(one.Names.Order(), two.Names.Order());
        double gap = 0;
        foreach (var name in one.Names)
        {
            using var x = one.Read(name);
            using var y = two.Read(name);
            gap = Math.Max(gap, x.sub(y).abs().max().item<float>());
        }
        return gap;
    }

    /// <summary>The same loss at every step (1e-5 relative), and weights as close to
    /// <paramref name="expected"/>'s as those of <paramref name="reordered"/>, the same computation
    /// summed in another order in one process (float sums differ in their last bits, and AdamW,
    /// which divides each gradient by its own running scale, turns the bits of a gradient that is
    /// all but zero into a step: that is the error a reduction over ranks may add, and no more).</summary>
    static void AssertSameRun(string expected, string actual, string? reordered = null, bool weights = true)
    {
        var (a, b) = (Losses(expected), Losses(actual));
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
            Assert.True(Math.Abs(a[i] - b[i]) <= 1e-5 * Math.Abs(a[i]), $"step {i + 1}: loss {b[i]:R}, one process {a[i]:R}");
        double gap = WeightGap(expected, actual);
        double floor = reordered is null ? 0 : WeightGap(expected, reordered);
        double lossGap = a.Zip(b, (p, q) => Math.Abs(p - q) / Math.Abs(p)).Max();
        TestContext.Current.TestOutputHelper?.WriteLine($"{a.Count} steps: losses within {lossGap:G2} relative; weights within {gap:G2}, " +
            $"one process summing in another order within {floor:G2}");
        if (weights) Assert.True(gap <= 4 * floor + 1e-6, $"weights differ by up to {gap:G3}; the same run summed in another order in one process, by {floor:G3}");
    }

    // 9 pairs, 3 captions each: 27 examples, 7 global micro-batches of 4 an epoch (2 a rank), the
    // last of 3 (2 and 1). Packed, 9 examples: the last micro-batch of 1 leaves rank 1 none.
    public static TheoryData<string, string> Variants => new()
    {
        { "plain", "  StageTwoSteps: 8" },
        { "uneven tail", "  StageTwoSteps: 4\n  PackReferences: true" },
        { "accumulation", "  StageTwoSteps: 4\n  GradientAccumulation: 2" },
        { "lora", "  StageTwoSteps: 5\n  LoraRank: 4\n  LoraDropout: 0\n  LoraLearningRate: 0.01" },
        { "checkpointing", "  StageTwoSteps: 5\n  GradientCheckpointing: true" },
        { "sharded optimizer", "  StageTwoSteps: 5\n  ShardOptimizerState: true\n  GradientAccumulation: 2" },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void TwoRanksTrainAsOneProcessWithTwiceTheMicroBatch(string variant, string options)
    {
        Mpi.Require();
        string dir = TestPaths.NewTempDir($"ddp-{variant.Replace(' ', '-')}");
        string one = Config(dir, "one.yaml", options + "\n  BatchSize: 4", "ck-one");
        string two = Config(dir, "two.yaml", options + "\n  BatchSize: 2", "ck-two");
        // One process, half the micro-batch and twice the accumulation: the same global batch and
        // the same sums in another order, for the size of float reduction error.
        int accumulation = options.Contains("GradientAccumulation: 2") ? 2 : 1;
        string reordered = Config(dir, "reordered.yaml", options.Replace($"GradientAccumulation: {accumulation}", "") +
            $"\n  BatchSize: 2\n  GradientAccumulation: {2 * accumulation}", "ck-reordered");
        foreach (var config in new[] { one, reordered })
        {
            var (code, output, err) = CliRunner.Run(TrainCommand.Create(), "--config", config);
            Assert.True(code == 0, output + err);
        }
        var (mpiCode, mpiOutput) = Mpi.Run(2, dir, Limit, "train", "--config", two);
        Assert.True(mpiCode == 0, mpiOutput);
        Assert.Contains("data-parallel over 2 rank(s) (Open MPI (mpirun), MPI)", mpiOutput);
        Assert.Single(mpiOutput.Split('\n'), l => l.StartsWith("saved ")); // rank 0 alone saves
        AssertSameRun(LastCheckpoint(Path.Combine(dir, "ck-one")), LastCheckpoint(Path.Combine(dir, "ck-two")), LastCheckpoint(Path.Combine(dir, "ck-reordered")));
        if (variant == "sharded optimizer")
            Assert.Equal(["optimizer-rank0000-of0002.safetensors", "optimizer-rank0001-of0002.safetensors"],
                Directory.GetFiles(LastCheckpoint(Path.Combine(dir, "ck-two")), "optimizer*").Select(Path.GetFileName).Order());
    }

    [Fact]
    public void AKilledTwoRankRunResumesOnTheUninterruptedLossCurveOnTheSameGlobalBatch()
    {
        Mpi.Require();
        string dir = TestPaths.NewTempDir("ddp-resume");
        const string options = "  StageTwoSteps: 8\n  BatchSize: 2\n  ShardOptimizerState: true";
        string full = Config(dir, "full.yaml", options.Replace("StageTwoSteps: 8", "StageTwoSteps: 8\n  CheckpointEvery: 4"), "ck-full");
        File.WriteAllText(full, File.ReadAllText(full).Replace("  CheckpointEvery: 100\n", ""));
        var (code, output) = Mpi.Run(2, dir, Limit, "train", "--config", full);
        Assert.True(code == 0, output);
        string uninterrupted = LastCheckpoint(Path.Combine(dir, "ck-full"));

        // The run as a killed one leaves it: the checkpoint of step 4, and step 8's cut off while written.
        void KilledAfterStep4(string folder)
        {
            Directory.CreateDirectory(folder);
            foreach (var f in Directory.GetFiles(Path.Combine(dir, "ck-full", "stage2-step00000004")))
                File.Copy(f, Path.Combine(Directory.CreateDirectory(Path.Combine(folder, "stage2-step00000004")).FullName, Path.GetFileName(f)));
            Directory.CreateDirectory(Path.Combine(folder, "stage2-step00000008.partial"));
        }
        string Resumed(string name, string opts, string folder)
        {
            KilledAfterStep4(Path.Combine(dir, folder));
            string path = Config(dir, name, opts.Replace("StageTwoSteps: 8", "StageTwoSteps: 8\n  CheckpointEvery: 4\n  Resume: true"), folder);
            File.WriteAllText(path, File.ReadAllText(path).Replace("  CheckpointEvery: 100\n", ""));
            return path;
        }

        var (code2, output2) = Mpi.Run(2, dir, Limit, "train", "--config", Resumed("again.yaml", options, "ck-again"));
        Assert.True(code2 == 0, output2);
        Assert.Contains("resumed stage 2 from", output2);
        Assert.Contains("stage2-step00000008.partial: an unfinished checkpoint", output2);
        AssertSameRun(uninterrupted, LastCheckpoint(Path.Combine(dir, "ck-again"))); // the same ranks: the same bits

        // One process with twice the micro-batch has the same global batch: it resumes the sharded
        // checkpoint (each parameter's state from the file that holds it) on the same curve.
        var (code3, output3, err3) = CliRunner.Run(TrainCommand.Create(), "--config",
            Resumed("single.yaml", options.Replace("BatchSize: 2", "BatchSize: 4").Replace("\n  ShardOptimizerState: true", ""), "ck-single"));
        Assert.True(code3 == 0, output3 + err3);
        AssertSameRun(uninterrupted, LastCheckpoint(Path.Combine(dir, "ck-single")), weights: false);

        // Another global batch would make a step cover other examples: refused, saying why.
        var (code4, output4, err4) = CliRunner.Run(TrainCommand.Create(), "--config",
            Resumed("other.yaml", options.Replace("\n  ShardOptimizerState: true", ""), "ck-other"));
        Assert.Equal(ExitCodes.Failed, code4);
        Assert.Contains("was written by 2 rank(s) with a global batch of 4 examples a step, and this run's is 2 (2 x 1 accumulated x 1 rank(s))", err4);
    }

    [Fact]
    public void ARankThatFailsEndsTheJobSayingWhichAndWhy()
    {
        Mpi.Require();
        string dir = TestPaths.NewTempDir("ddp-fail");
        string config = Config(dir, "bad.yaml", "  StageTwoSteps: 4\n  BatchSize: 2", "ck");
        // Each rank decodes its share of the images first (every other row): row 1's is rank 1's.
        string image = Path.Combine(dir, "data", "images", "000001_b.png");
        File.WriteAllBytes(image, File.ReadAllBytes(image)[..100]);
        var clock = Stopwatch.StartNew();
        var (code, output) = Mpi.Run(2, dir, TimeSpan.FromSeconds(60), "train", "--config", config);
        Assert.NotEqual(0, code);
        // (mpirun's own "MPI_ABORT was invoked on rank 1" is not always printed: Open MPI 4.1.4
        // sometimes fails to unpack its help text, ORTE_ERROR_LOG in show_help.c.)
        foreach (var expected in new[] { "rank 1 of 2: DataException: ", image, "ending the job so that no rank waits for this one" })
            Assert.True(output.Contains(expected), $"'{expected}' not in:\n{output}");
        TestContext.Current.TestOutputHelper?.WriteLine($"the job ended {clock.Elapsed.TotalSeconds:F1} s after it started, exit {code}");
    }

    [Fact]
    public void KillingOneRankEndsTheOtherWithinAMinuteNamingTheLostRank()
    {
        Mpi.Require();
        string dir = TestPaths.NewTempDir("ddp-kill");
        string config = Config(dir, "long.yaml", "  StageTwoSteps: 100000\n  BatchSize: 2", "ck");
        var output = new StringBuilder();
        using var job = Mpi.Start(2, dir, output, "train", "--config", config);
        var clock = Stopwatch.StartNew();
        while (!output.ToString().Contains("stage 2 step 10/") && clock.Elapsed < Limit && !job.HasExited) Thread.Sleep(100);
        Assert.False(job.HasExited, output.ToString());
        int rank1 = Mpi.ProcessOfRank(1) ?? throw new InvalidOperationException($"no process of rank 1:\n{output}");
        Process.GetProcessById(rank1).Kill(); // SIGKILL: nothing of it runs after this

        var killed = Stopwatch.StartNew();
        bool ended = job.WaitForExit(TimeSpan.FromSeconds(60));
        if (!ended) job.Kill(entireProcessTree: true);
        job.WaitForExit();
        Assert.True(ended, $"the job still ran 60 s after rank 1 was killed:\n{output}");
        Assert.NotEqual(0, job.ExitCode);
        Assert.Null(Mpi.ProcessOfRank(0));
        Assert.Contains("process rank 1", output.ToString());
        TestContext.Current.TestOutputHelper?.WriteLine($"the job ended {killed.Elapsed.TotalSeconds:F1} s after rank 1 was killed, exit {job.ExitCode}");
    }
}
