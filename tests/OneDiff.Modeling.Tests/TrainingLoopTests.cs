using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Prompting;
using OneDiff.Modeling.Tokenization;
using OneDiff.Modeling.Training;
using OneDiff.Tests.Common;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

public class TrainingLoopTests
{
    internal static List<TrainingExample> Examples(int count, int seed = 5)
    {
        var rng = new Random(seed);
        var prompts = new PromptEncoder(TextTokenizer.Tiny(), ConversationTemplate.Plain);
        string[] answers = ["the red car is gone", "a man appeared", "the cone moved left", "nothing changed"];
        float[] Image() => Enumerable.Range(0, 3 * 64 * 64).Select(_ => (float)rng.NextDouble()).ToArray();
        return Enumerable.Range(0, count).Select(i => new TrainingExample(Image(), Image(), prompts.Encode("", answers[i % answers.Length]))).ToList();
    }

    internal static OneDiffModel NewModel() { torch.manual_seed(9); return new OneDiffModel(OneDiffConfig.Tiny); }

    static StageSettings Settings(TrainingStage stage, string? folder = null, bool resume = false) => new()
    {
        Stage = stage, MaxSteps = 12, BatchSize = 4, Seed = 3, CheckpointFolder = folder, CheckpointEvery = folder is null ? 0 : 4, Resume = resume,
        LearningRates = new Dictionary<string, double> { ["projectors"] = 1e-3, ["delta_module"] = 1e-3, ["language_model"] = 1e-3 },
    };

    static List<Tensor> Snapshot(nn.Module m) => m.parameters().Select(p => p.detach().clone()).ToList();

    static bool Same(List<Tensor> a, nn.Module m) => a.Zip(m.parameters()).All(p => p.First.eq(p.Second).all().item<bool>());

    [Fact]
    public void FrozenParametersAreBitIdenticalAfterEachStage()
    {
        var model = NewModel();
        var data = Examples(12);
        var vision = Snapshot(model.vision_tower);
        var llm = Snapshot(model.language_model);
        var delta = Snapshot(model.delta_module);
        new TrainingLoop(model, torch.CPU).Run(data, Settings(TrainingStage.CoupledSampleTraining), cancel: TestContext.Current.CancellationToken);
        Assert.True(Same(vision, model.vision_tower), "stage I changed the vision tower");
        Assert.True(Same(llm, model.language_model), "stage I changed the LLM");
        Assert.False(Same(delta, model.delta_module), "stage I did not train the delta module");
        new TrainingLoop(model, torch.CPU).Run(data, Settings(TrainingStage.InstructionTuning), cancel: TestContext.Current.CancellationToken);
        Assert.True(Same(vision, model.vision_tower), "stage II changed the vision tower");
        Assert.False(Same(llm, model.language_model), "stage II did not train the LLM");
        Assert.All(model.parameters(), p => Assert.Null(p.grad));
    }

    [Fact]
    public void InBFloat16TheFp32CopiesKeepTheUpdatesThatRoundingWouldLose()
    {
        // Stage II at the paper's learning rate (2e-5) on a bf16 model: a step moves a weight by
        // about 2e-5, under half of bf16's spacing for most weights (0.2 % of their value).
        double Moved(bool masterWeights)
        {
            var model = NewModel();
            model.to(ScalarType.BFloat16);
            var before = Snapshot(model.language_model);
            var settings = Settings(TrainingStage.InstructionTuning) with
            {
                MaxSteps = 6, WarmupFraction = 0, MasterWeights = masterWeights,
                LearningRates = new Dictionary<string, double> { ["projectors"] = 2e-5, ["delta_module"] = 2e-5, ["language_model"] = 2e-5 },
            };
            new TrainingLoop(model, torch.CPU).Run(Examples(24), settings, cancel: TestContext.Current.CancellationToken);
            long changed = 0, total = 0;
            foreach (var (b, p) in before.Zip(model.language_model.parameters()))
            {
                changed += b.ne(p).sum().item<long>();
                total += b.numel();
            }
            return (double)changed / total;
        }
        double plain = Moved(false), mastered = Moved(true);
        TestContext.Current.TestOutputHelper?.WriteLine($"LLM weights moved in six steps: {plain:P1} in bf16 alone, {mastered:P1} through fp32 copies");
        Assert.True(mastered > 2 * plain && mastered > 0.3, $"weights moved: {plain:P1} in bf16 alone, {mastered:P1} through fp32 copies");
    }

    [Fact]
    public void RunningOutOfMemoryStatesWhatTheStageRanWithAndItsStateMemory()
    {
        // The allocator's failure arrives through the step (here from a pair's image load, which the
        // loop rethrows unchanged); the loop says what the stage ran with, in facts, not option names.
        var oom = new System.Runtime.InteropServices.ExternalException("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 139.81 GiB\nframe #0: c10::Error::Error");
        var (data, _) = CountedExamples(4, 1, k => k == 2 ? oom : null);
        var settings = Settings(TrainingStage.InstructionTuning) with { BatchSize = 2, GradientAccumulation = 2, MasterWeights = true };
        var e = Assert.Throws<TrainingOutOfMemoryException>(() => new TrainingLoop(NewModel(), torch.CPU).Run(data, settings, cancel: TestContext.Current.CancellationToken));
        Assert.StartsWith("stage 2 ran out of memory at batch 2, checkpointing off, fp32 copies on (CUDA out of memory. Tried to allocate 2.00 GiB.", e.Message);
        Assert.DoesNotContain("frame #0", e.Message);
        Assert.Same(settings, e.Settings);
        Assert.Equal("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 139.81 GiB", e.Reason);
        // The figure is that of the Tiny model's stage II in fp32: every parameter but CLIP's trains.
        var memory = TrainingMemory.Of(OneDiffConfig.Tiny, TrainingStage.InstructionTuning, null, ScalarType.Float32, masterWeights: true);
        Assert.Equal(memory, e.StateMemory);
        Assert.Contains($"Its weights and training state alone take {memory.TotalBytes / (double)(1L << 30):F1} GiB, activations apart.", e.Message);
        Assert.DoesNotContain("GradientCheckpointing", e.Message);

        Assert.True(Runtime.OutOfMemory.Is(new InvalidOperationException("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 bytes")));
        Assert.True(Runtime.OutOfMemory.Is(new AggregateException(new InvalidOperationException("wrapped", oom))));
        Assert.False(Runtime.OutOfMemory.Is(new InvalidDataException("a.png: not an image")));
    }

    [Fact]
    public void ResumingFromACheckpointReproducesTheUninterruptedLossCurve() =>
        AssertResumedRunFollowsTheUninterruptedOne((folder, resume) => Settings(TrainingStage.InstructionTuning, folder, resume));

    /// <summary>12 steps straight, against 8 steps (checkpoints every 4) then a resumed run from
    /// a fresh model: the same loss curve. <paramref name="settings"/> gives the run's settings
    /// for a checkpoint folder (null: none) and whether to resume.</summary>
    internal static void AssertResumedRunFollowsTheUninterruptedOne(Func<string?, bool, StageSettings> settings)
    {
        var data = Examples(16);
        var full = new TrainingLoop(NewModel(), torch.CPU);
        full.Run(data, settings(null, false), cancel: TestContext.Current.CancellationToken);

        string folder = TestPaths.NewTempDir("resume");
        var first = new TrainingLoop(NewModel(), torch.CPU);
        first.Run(data, settings(folder, false), cancel: TestContext.Current.CancellationToken, afterStep: step => step < 8);
        Assert.Equal(8, first.Losses.Count);
        Assert.True(Directory.GetDirectories(folder).Length >= 2);

        // A fresh process would build the model again from the seed; the checkpoint restores the rest.
        var resumed = new TrainingLoop(NewModel(), torch.CPU);
        resumed.Run(data, settings(folder, true), cancel: TestContext.Current.CancellationToken);
        Assert.Equal(12, resumed.Losses.Count);
        for (int i = 0; i < 12; i++)
            Assert.True(Math.Abs(full.Losses[i] - resumed.Losses[i]) < 1e-5, $"step {i + 1}: {full.Losses[i]} vs {resumed.Losses[i]}");
    }

    [Fact]
    public void AFinishedStageLeavesACheckpointThatAResumedRunTakesWithoutTrainingAgain()
    {
        string folder = TestPaths.NewTempDir("resume-done");
        var model = NewModel();
        var done = new TrainingLoop(model, torch.CPU);
        // 12 steps, a checkpoint every 5: at 5, 10 and the last, 12.
        done.Run(Examples(16), Settings(TrainingStage.InstructionTuning, folder) with { CheckpointEvery = 5, KeepCheckpoints = 0 }, cancel: TestContext.Current.CancellationToken);
        Assert.Equal(["stage2-step00000005", "stage2-step00000010", "stage2-step00000012"], Directory.GetDirectories(folder).Select(Path.GetFileName).Order());

        var again = NewModel();
        var steps = new List<long>();
        var resumed = new TrainingLoop(again, torch.CPU);
        resumed.Run(Examples(16), Settings(TrainingStage.InstructionTuning, folder, resume: true) with { CheckpointEvery = 5 }, p => steps.Add(p.Step), TestContext.Current.CancellationToken);
        Assert.Empty(steps);
        Assert.Equal(done.Losses, resumed.Losses);
        Assert.True(Same(model.delta_module.parameters().Select(p => p.detach()).ToList(), again.delta_module), "the finished stage's weights are back");
    }

    [Fact]
    public void OnlyTheLatestCheckpointsStayAndAnUnfinishedOneIsNeverResumedFrom()
    {
        string folder = TestPaths.NewTempDir("keep");
        var log = new List<string>();
        // 12 steps, a checkpoint every 4, the two latest kept: 8 and 12 (4 deleted once 12 was complete).
        var first = new TrainingLoop(NewModel(), torch.CPU) { Log = log.Add };
        first.Run(Examples(16), Settings(TrainingStage.InstructionTuning, folder) with { KeepCheckpoints = 2 }, cancel: TestContext.Current.CancellationToken);
        Assert.Equal(["stage2-step00000008", "stage2-step00000012"], Directory.GetDirectories(folder).Select(Path.GetFileName).Order());
        Assert.Contains(log, l => l.StartsWith("deleted ") && l.Contains("stage2-step00000004") && l.Contains("KeepCheckpoints 2"));

        // A later checkpoint cut off while written: one still named ".partial", and one (an older
        // writer's) without its state.json. A resumed run takes step 12 and says what it left aside.
        string cut = Path.Combine(folder, "stage2-step00000016.partial");
        Directory.CreateDirectory(cut);
        File.WriteAllText(Path.Combine(cut, "trainable.safetensors"), "truncated");
        string noState = Path.Combine(folder, "stage2-step00000014");
        Directory.CreateDirectory(noState);
        log.Clear();
        var steps = new List<long>();
        var resumed = new TrainingLoop(NewModel(), torch.CPU) { Log = log.Add };
        resumed.Run(Examples(16), Settings(TrainingStage.InstructionTuning, folder, resume: true) with { MaxSteps = 16 }, p => steps.Add(p.Step), TestContext.Current.CancellationToken);
        Assert.Equal([13L, 14, 15, 16], steps);
        Assert.Contains(log, l => l.StartsWith("resumed stage 2 from") && l.Contains("stage2-step00000012") && l.EndsWith("(step 12)"));
        Assert.Contains(log, l => l.StartsWith("left aside") && l.Contains("stage2-step00000014") && l.Contains("unfinished"));
        Assert.Contains(log, l => l.StartsWith("left aside") && l.Contains("stage2-step00000016.partial"));
        // Its own checkpoint at 16 replaced the cut-off one; the stale one was deleted and said so.
        Assert.Contains(log, l => l.StartsWith("deleted ") && l.Contains("stage2-step00000016.partial") && l.Contains("cut off"));
        Assert.True(File.Exists(Path.Combine(folder, "stage2-step00000016", "state.json")));
        Assert.False(Directory.Exists(cut));
        // The two latest complete ones stay; the one without state.json is not counted, nor deleted.
        Assert.Equal(["stage2-step00000012", "stage2-step00000014", "stage2-step00000016"], Directory.GetDirectories(folder).Select(Path.GetFileName).Order());
        var listed = CheckpointStore.List(folder);
        Assert.Equal([(12L, true), (14L, false), (16L, true)], listed.Select(c => (c.Step, c.Complete)));
        Assert.All(listed, c => Assert.Equal(TrainingStage.InstructionTuning, c.Stage));
        Assert.Equal(resumed.Losses[^1], listed[2].LastLoss!.Value, 6);
        Assert.Equal("none", listed[2].Lora);
        Assert.True(listed[2].Bytes > 0);
    }

    [Fact]
    public void ACheckpointMissingATrainedParameterIsRefusedNamingIt()
    {
        string folder = TestPaths.NewTempDir("resume-partial");
        new TrainingLoop(NewModel(), torch.CPU).Run(Examples(16), Settings(TrainingStage.InstructionTuning, folder), cancel: TestContext.Current.CancellationToken, afterStep: step => step < 4);
        string file = Path.Combine(Directory.GetDirectories(folder).Single(), "trainable.safetensors");
        string dropped;
        using (var ck = Checkpoints.SafetensorsCheckpoint.Open(file))
        {
            dropped = ck.Names.Order(StringComparer.Ordinal).First();
            var kept = ck.Names.Where(n => n != dropped).ToDictionary(n => n, n => ck.Files[0].Read(n));
            ck.Dispose();
            Checkpoints.SafetensorsWriter.Save(file, kept);
        }
        var e = Assert.Throws<InvalidOperationException>(() => new TrainingLoop(NewModel(), torch.CPU)
            .Run(Examples(16), Settings(TrainingStage.InstructionTuning, folder, resume: true), cancel: TestContext.Current.CancellationToken));
        Assert.Contains($"1 missing, such as '{dropped}'", e.Message);
    }

    [Fact]
    public void GradientCheckpointingFollowsTheSameLossCurveAndReportsEveryStep()
    {
        var data = Examples(16);
        var plain = new TrainingLoop(NewModel(), torch.CPU);
        plain.Run(data, Settings(TrainingStage.InstructionTuning), cancel: TestContext.Current.CancellationToken);
        var model = NewModel();
        var recomputed = new TrainingLoop(model, torch.CPU);
        var reported = new List<long>();
        recomputed.Run(data, Settings(TrainingStage.InstructionTuning) with { GradientCheckpointing = true }, p => reported.Add(p.Step), cancel: TestContext.Current.CancellationToken);
        Assert.Equal(Enumerable.Range(1, 12).Select(i => (long)i), reported);
        Assert.False(model.language_model.model.GradientCheckpointing, "the loop leaves the model as it found it");
        for (int i = 0; i < 12; i++)
            Assert.True(Math.Abs(plain.Losses[i] - recomputed.Losses[i]) < 1e-4, $"step {i + 1}: {plain.Losses[i]} vs {recomputed.Losses[i]}");
    }

    /// <summary>Examples over <paramref name="pairs"/> pairs (<paramref name="perPair"/> answers each,
    /// sharing the pair's images) whose loads are counted.</summary>
    static (List<TrainingExample> Data, Func<int> Loads) CountedExamples(int pairs, int perPair, Func<int, Exception?>? fail = null)
    {
        var inMemory = Examples(pairs * perPair);
        int loads = 0;
        var images = Enumerable.Range(0, pairs).Select(k => new TrainingImages(() =>
        {
            Interlocked.Increment(ref loads);
            if (fail?.Invoke(k) is { } e) throw e;
            return inMemory[k].Images.Load();
        })).ToList();
        var data = inMemory.Select((e, i) => new TrainingExample(images[i / perPair], e.Sequence)).ToList();
        return (data, () => Volatile.Read(ref loads));
    }

    static StageSettings TwoEpochs(bool cache) => Settings(TrainingStage.InstructionTuning) with
    {
        MaxSteps = null, Epochs = 2, BatchSize = 2, PrefetchPairs = 2, CacheVisionFeatures = cache,
    };

    [Fact]
    public void ImagesAreLoadedAWindowAheadOfTheStepNotAllAtOnce()
    {
        var (data, loads) = CountedExamples(pairs: 12, perPair: 1);
        int atFirstStep = -1;
        new TrainingLoop(NewModel(), torch.CPU).Run(data, TwoEpochs(cache: false), cancel: TestContext.Current.CancellationToken, afterStep: step =>
        {
            if (step == 1) atFirstStep = loads();
            return true;
        });
        // Two batches ahead of the one in training: at most three batches of two pairs.
        Assert.InRange(atFirstStep, 2, 6);
        Assert.Equal(24, loads()); // every pair once per epoch
    }

    [Fact]
    public void WithCachedFeaturesEachPairIsLoadedAndEncodedOnceAndTrainsAsWithout()
    {
        var (cached, cachedLoads) = CountedExamples(pairs: 6, perPair: 2);
        var withCache = new TrainingLoop(NewModel(), torch.CPU);
        withCache.Run(cached, TwoEpochs(cache: true), cancel: TestContext.Current.CancellationToken);
        Assert.Equal(6, cachedLoads()); // two epochs, two examples a pair: still one load a pair

        var (plain, plainLoads) = CountedExamples(pairs: 6, perPair: 2);
        var without = new TrainingLoop(NewModel(), torch.CPU);
        without.Run(plain, TwoEpochs(cache: false), cancel: TestContext.Current.CancellationToken);
        Assert.True(plainLoads() >= 12, $"{plainLoads()} loads without the cache");
        // The frozen tower's features are the same either way, so the loss curves agree: a cache
        // entry given to the wrong example would show here.
        Assert.Equal(without.Losses.Count, withCache.Losses.Count);
        for (int i = 0; i < without.Losses.Count; i++)
            Assert.True(Math.Abs(without.Losses[i] - withCache.Losses[i]) < 1e-4, $"step {i + 1}: {without.Losses[i]} vs {withCache.Losses[i]}");
    }

    [Fact]
    public void AFailedLoadReachesTheCallerUnchanged()
    {
        var (data, _) = CountedExamples(pairs: 12, perPair: 1,
            fail: k => k == 7 ? new InvalidDataException("id 7: the image is truncated (b/7.png)") : null);
        var e = Assert.Throws<InvalidDataException>(() => new TrainingLoop(NewModel(), torch.CPU).Run(data, TwoEpochs(cache: false), cancel: TestContext.Current.CancellationToken));
        Assert.Equal("id 7: the image is truncated (b/7.png)", e.Message);
    }

    [Fact]
    public void WarmupThenCosine()
    {
        Assert.Equal(0.5, LearningRateSchedule.Scale(0, 100, 0.02), 9);
        Assert.Equal(1.0, LearningRateSchedule.Scale(1, 100, 0.02), 9);
        Assert.Equal(0.5, LearningRateSchedule.Scale(51, 100, 0.02), 2);
        Assert.True(LearningRateSchedule.Scale(99, 100, 0.02) < 0.01);
    }
}
