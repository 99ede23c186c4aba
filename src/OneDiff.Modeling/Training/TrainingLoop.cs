using System.Diagnostics;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Prompting;
using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Training;

/// <summary>One training example: a pair's images (loaded when its batch comes) and the encoded
/// prompt with its answer, or with all its answers packed after one shared prefix.</summary>
public sealed record TrainingExample(TrainingImages Images, TrainingSequence Sequence)
{
    public TrainingExample(TrainingImages images, EncodedPrompt prompt) : this(images, new TrainingSequence(prompt)) { }
    /// <summary>An example whose preprocessed images ((3, S, S) floats each) are in memory.</summary>
    public TrainingExample(float[] image1, float[] image2, EncodedPrompt prompt) : this(TrainingImages.InMemory(image1, image2), new TrainingSequence(prompt)) { }
}

/// <summary>How one stage trains.</summary>
public sealed record StageSettings
{
    public required TrainingStage Stage { get; init; }
    public int Epochs { get; init; } = 1;
    /// <summary>Optimizer steps; overrides <see cref="Epochs"/> when set.</summary>
    public int? MaxSteps { get; init; }
    public int BatchSize { get; init; } = 8;
    public int GradientAccumulation { get; init; } = 1;
    /// <summary>Learning rate per parameter group: "delta_module", "projectors", "language_model".</summary>
    public required IReadOnlyDictionary<string, double> LearningRates { get; init; }
    public double WarmupFraction { get; init; } = 0.03;
    public double WeightDecay { get; init; }
    public double MaxGradNorm { get; init; } = 1.0;
    public int Seed { get; init; } = 1;
    /// <summary>Compute the frozen tower's features once per pair and reuse them every epoch.</summary>
    public bool CacheVisionFeatures { get; init; }
    /// <summary>About how many pairs' images are loaded ahead of the step on worker threads (host
    /// memory holds this window, not the data set).</summary>
    public int PrefetchPairs { get; init; } = 64;
    /// <summary>Recompute the LLM layers' activations in the backward pass instead of keeping them
    /// (<see cref="Modules.CheckpointedDecoderLayer"/>): less memory, about a third more compute.</summary>
    public bool GradientCheckpointing { get; init; }
    /// <summary>Update parameters stored in bf16/fp16 through fp32 copies with fp32 moments
    /// (<see cref="AdamW.MasterWeights"/>), so updates below bf16's resolution are not lost.</summary>
    public bool MasterWeights { get; init; }
    /// <summary>Write a checkpoint every N optimizer steps and at the last (0: never) into this folder.</summary>
    public string? CheckpointFolder { get; init; }
    public int CheckpointEvery { get; init; }
    /// <summary>How many of the stage's latest checkpoints stay in <see cref="CheckpointFolder"/>
    /// (older ones are deleted once a newer one is complete); 0 keeps every one. A 7B LLM trained
    /// whole writes about 95 GB a checkpoint.</summary>
    public int KeepCheckpoints { get; init; } = 2;
    /// <summary>Resume from the latest checkpoint of <see cref="CheckpointFolder"/> if there is one.</summary>
    public bool Resume { get; init; }
    /// <summary>Stage II only: train LoRA adapters of the LLM (learning-rate group "lora") instead of
    /// the LLM itself; they are merged into its weights when the stage ends.</summary>
    public LoraConfig? Lora { get; init; }

    /// <summary>Optimizer steps per epoch and in all for <paramref name="examples"/> examples on
    /// <paramref name="ranks"/> data-parallel ranks (a global micro-batch is BatchSize x ranks; a
    /// last partial batch is kept; a last partial accumulation is not).</summary>
    public (long PerEpoch, long Total) Steps(int examples, int ranks = 1)
    {
        long global = (long)BatchSize * ranks;
        long batches = (examples + global - 1) / global;
        long perEpoch = Math.Max(1, batches / GradientAccumulation);
        return (perEpoch, MaxSteps ?? perEpoch * Epochs);
    }
}

/// <summary>Progress of a step, for the caller's log and training record.</summary>
/// <param name="Epoch">steps done in epochs (1.5: half-way through the second).</param>
/// <param name="LearningRate">the largest group's rate, for a one-line log.</param>
/// <param name="LearningRates">each parameter group's rate at this step.</param>
/// <param name="GradNorm">the gradients' total norm before clipping; null without clipping.</param>
public sealed record StepProgress(TrainingStage Stage, long Step, long TotalSteps, double Epoch, double Loss, double LearningRate,
    IReadOnlyDictionary<string, double> LearningRates, double? GradNorm, double SamplesPerSecond, TimeSpan Remaining);

/// <summary>
/// Trains a <see cref="OneDiffModel"/> for one stage: shuffled batches (seeded per epoch), the loss
/// on answer tokens, gradient accumulation and clipping, AdamW with a warm-up + cosine schedule per
/// parameter group, checkpoints (<see cref="CheckpointStore"/>) that resume to the same loss curve,
/// and cancellation between steps.
/// </summary>
public sealed class TrainingLoop
{
    readonly OneDiffModel _model;
    readonly Device _device;
    public List<double> Losses { get; } = [];
    /// <summary>The adapters of the last LoRA stage as it ended, before their merge (CPU copies,
    /// by name under the LLM body; <see cref="LlamaModel.CopyLoraWeights"/>); null without LoRA.</summary>
    public Dictionary<string, Tensor>? LoraWeights { get; private set; }

    readonly DataParallel? _parallel;

    /// <param name="parallel">the data-parallel job this process is a rank of; null: one process.</param>
    public TrainingLoop(OneDiffModel model, Device device, DataParallel? parallel = null) { _model = model; _device = device; _parallel = parallel; }

    /// <summary>Whether this process reports progress and writes checkpoints (rank 0, or the only process).</summary>
    bool IsMain => _parallel is null || _parallel.Rank == 0;

    /// <summary>Where the loop says what it did with checkpoints (resumed from one, set aside an
    /// unfinished one, deleted old ones); null: nowhere.</summary>
    public Action<string>? Log { get; set; }

    public void Run(IReadOnlyList<TrainingExample> examples, StageSettings s, Action<StepProgress>? progress = null, CancellationToken cancel = default, Func<long, bool>? afterStep = null)
    {
        try { RunWithLora(examples, s, progress, cancel, afterStep); }
        catch (Exception e) when (e is not TrainingOutOfMemoryException && Runtime.OutOfMemory.Is(e)) { throw TrainingOutOfMemoryException.For(s, StateMemory(s), e); }
    }

    /// <summary>What the stage's weights and training state take (the model is back in its stage
    /// settings, LoRA merged, once the run has ended: counted as the stage had them).</summary>
    TrainingMemory? StateMemory(StageSettings s)
    {
        try
        {
            var dtype = _model.language_model.model.embed_tokens.weight!.dtype;
            return TrainingMemory.Of(_model.Config, s.Stage, s.Lora, dtype, s.MasterWeights);
        }
        catch (Exception) { return null; } // the error goes out without the figure rather than not at all
    }

    void RunWithLora(IReadOnlyList<TrainingExample> examples, StageSettings s, Action<StepProgress>? progress, CancellationToken cancel, Func<long, bool>? afterStep)
    {
        if (examples.Count == 0) throw new ArgumentException("there are no training examples", nameof(examples));
        if (s.Lora is null)
        {
            RunStage(examples, s, progress, cancel, afterStep);
            return;
        }
        if (s.Stage != TrainingStage.InstructionTuning)
            throw new ArgumentException("LoRA adapts the LLM, which only stage II (instruction tuning) trains", nameof(s));
        var body = _model.language_model.model;
        body.AttachLora(s.Lora);
        // Merged however the stage ends (a cancelled run keeps what it learned, as without LoRA).
        try { RunStage(examples, s, progress, cancel, afterStep); }
        finally
        {
            LoraWeights = body.CopyLoraWeights();
            body.MergeLora();
        }
    }

    void RunStage(IReadOnlyList<TrainingExample> examples, StageSettings s, Action<StepProgress>? progress, CancellationToken cancel, Func<long, bool>? afterStep)
    {
        _model.SetStage(s.Stage);
        _model.train();
        var body = _model.language_model.model;
        bool checkpointingBefore = body.GradientCheckpointing;
        body.GradientCheckpointing = s.GradientCheckpointing;
        int side = _model.Config.Vision.ImageSize;
        int ranks = _parallel?.Size ?? 1;
        var (stepsPerEpoch, totalSteps) = s.Steps(examples.Count, ranks);
        var named = _model.named_parameters().GroupBy(p => p.parameter.Handle).ToDictionary(g => g.Key, g => g.First().name);
        var trained = _model.TrainableParameters().Select(t => (t.Group, Name: named[t.Parameter.Handle], t.Parameter)).ToList();
        // Sharded (ZeRO stage 1): this rank's optimizer keeps the state of the parameters it owns only.
        var owners = _parallel is { ShardOptimizerState: true } dp ? DataParallel.Owners(trained.Select(t => (t.Name, t.Parameter.numel())).ToList(), dp.Size) : null;
        bool Mine(string name) => owners is null || owners[name] == _parallel!.Rank;
        var groups = trained.GroupBy(t => t.Group).Select(g =>
            new AdamW.Group(g.Key, s.LearningRates.TryGetValue(g.Key, out var lr) ? lr : throw new ArgumentException($"no learning rate for parameter group '{g.Key}'"),
                g.Where(t => Mine(t.Name)).Select(t => (t.Name, t.Parameter)).ToList())).ToList();
        using var optimizer = new AdamW(groups) { WeightDecay = s.WeightDecay, MasterWeights = s.MasterWeights };
        var trainedByName = trained.Select(t => (t.Name, t.Parameter)).ToList();
        var owned = trained.Where(t => Mine(t.Name)).Select(t => t.Parameter).ToList();

        long step = 0;
        var store = s.CheckpointFolder is { } folder ? new CheckpointStore(folder) { Log = IsMain ? Log : null } : null;
        if (s.Resume && store?.Latest(s.Stage) is { } latest)
        {
            (step, var losses) = store.Load(latest, _model, optimizer, s, _parallel);
            Losses.Clear();
            Losses.AddRange(losses);
            _model.SetStage(s.Stage);
            if (IsMain) Log?.Invoke($"resumed stage {(int)s.Stage} from {latest} (step {step})");
        }
        // Every rank starts from rank 0's model (the same seed gives the same one; this makes sure).
        _parallel?.BroadcastParameters(_model.named_parameters().DistinctBy(p => p.parameter.Handle).Select(p => (p.name, p.parameter)));

        var cache = new Dictionary<TrainingImages, OneDiffModel.VisionFeatures>(ReferenceEqualityComparer.Instance);
        // The global micro-batches in training order: their token counts normalise the loss; this
        // rank's share of each is what it trains on.
        using var schedule = MicroBatches(examples.Count, s, ranks, step, totalSteps, stepsPerEpoch).GetEnumerator();
        var shares = MicroBatches(examples.Count, s, ranks, step, totalSteps, stepsPerEpoch).Select(g => _parallel?.Share(g) ?? g);
        var prefetcher = new BatchPrefetcher(examples, shares, s.BatchSize, s.PrefetchPairs, s.CacheVisionFeatures);
        try
        {
            var sw = Stopwatch.StartNew();
            long startStep = step, savedAt = step;
            // A step's loss is read back once the next step is queued behind it, so the host never
            // waits for the device in the middle of training (checkpoints and afterStep read it at once).
            (Tensor Loss, long Step, double Scale, Tensor? Norm)? pending = null;
            void Flush()
            {
                if (pending is not { } p) return;
                pending = null;
                double loss;
                double? norm = null;
                using (p.Loss) loss = p.Loss.item<float>();
                if (p.Norm is { } n) using (n) norm = n.item<float>();
                Losses.Add(loss);
                long perStep = (long)s.BatchSize * s.GradientAccumulation * ranks;
                double rate = (p.Step - startStep) * perStep / Math.Max(1e-9, sw.Elapsed.TotalSeconds);
                var remaining = TimeSpan.FromSeconds((totalSteps - p.Step) * perStep / Math.Max(1e-9, rate));
                if (IsMain) progress?.Invoke(new StepProgress(s.Stage, p.Step, totalSteps, (double)p.Step / stepsPerEpoch, loss, groups.Max(g => g.LearningRate) * p.Scale,
                    groups.ToDictionary(g => g.Name, g => g.LearningRate * p.Scale), norm, rate, remaining));
            }
            try
            {
                while (step < totalSteps)
                {
                    // Every rank stops at the same step, whichever of them was asked to.
                    bool stop = _parallel?.Group.Any(cancel.IsCancellationRequested) ?? cancel.IsCancellationRequested;
                    if (stop)
                    {
                        Flush();
                        // Stopped between steps: what was trained is kept, and a resumed run goes on from here.
                        if (store is not null && step > savedAt && step > 0) store.Save(s, step, _model, optimizer, Losses, _parallel);
                        throw new OperationCanceledException(cancel.IsCancellationRequested ? cancel : CancellationToken.None);
                    }
                    // The loss is summed over the step's answer tokens, on every rank and in every
                    // micro-batch, and divided by their count (as Hugging Face's num_items_in_batch).
                    long stepTokens = 0;
                    for (int micro = 0; micro < s.GradientAccumulation && schedule.MoveNext(); micro++)
                        stepTokens += schedule.Current.Sum(i => (long)examples[i].Sequence.TargetCount);
                    var lossTotal = torch.zeros([], ScalarType.Float32, _device).DetachFromDisposeScope();
                    for (int micro = 0; micro < s.GradientAccumulation; micro++)
                    {
                        var (ids, images) = prefetcher.Next();
                        if (ids.Length == 0) continue; // an epoch's last global micro-batch may leave a rank none
                        using var scope = torch.NewDisposeScope();
                        // Each micro-batch its own dropout masks, the same however often it is computed.
                        if (s.Lora is not null) body.SetLoraDropoutKey(((long)s.Seed << 40) ^ (step << 8) ^ micro);
                        var visual = Visual(examples, ids, images, side, s.CacheVisionFeatures, cache);
                        var sequences = ids.Select(i => examples[i].Sequence).ToList();
                        // The mean over this micro-batch's tokens, weighted by their share of the step's:
                        // one process with one micro-batch a step is left exactly as it was.
                        long tokens = sequences.Sum(q => (long)q.TargetCount);
                        var loss = _model.Loss(visual, sequences);
                        if (tokens != stepTokens) loss = loss.mul(Modules.Scalars.Of((double)tokens / stepTokens));
                        loss.backward();
                        lossTotal.add_(loss.detach(), Modules.Scalars.One);
                    }
                    if (_parallel is not null)
                    {
                        _parallel.ReduceGradients(trainedByName, owners);
                        _parallel.SumScalar(lossTotal);
                    }
                    // Unsharded, every rank holds the whole sum; sharded, each its own parameters' part.
                    // The norm stays on the device until the step is read back with its loss.
                    Tensor? gradNorm = null;
                    if (s.MaxGradNorm > 0)
                        gradNorm = owners is null ? GradientClipping.ClipByTotalNorm(owned, s.MaxGradNorm) : _parallel!.ClipOwnedByGlobalNorm(owned, s.MaxGradNorm, _device);
                    gradNorm?.DetachFromDisposeScope();
                    double scale = LearningRateSchedule.Scale(step, totalSteps, s.WarmupFraction);
                    optimizer.Update(scale);
                    if (owners is not null) _parallel!.BroadcastFromOwners(trainedByName, owners);
                    foreach (var (_, p) in trainedByName) p.grad = null;
                    step++;
                    Flush();
                    pending = (lossTotal, step, scale, gradNorm);
                    // Every CheckpointEvery steps, and at the stage's last step: a run stopped later
                    // (in the next stage, in validation, while saving) resumes with this stage done.
                    bool checkpoint = store is not null && s.CheckpointEvery > 0 && (step % s.CheckpointEvery == 0 || step == totalSteps);
                    if (checkpoint || afterStep is not null) Flush();
                    if (checkpoint) { store!.Save(s, step, _model, optimizer, Losses, _parallel); savedAt = step; }
                    if (afterStep?.Invoke(step) == false) return;
                }
                Flush();
            }
            finally { pending?.Loss.Dispose(); pending?.Norm?.Dispose(); }
        }
        finally
        {
            foreach (var f in cache.Values) f.Dispose();
            body.GradientCheckpointing = checkpointingBefore;
            _model.eval();
        }
    }

    /// <summary>The global micro-batches (example indices, BatchSize x <paramref name="ranks"/>
    /// each) of steps <paramref name="from"/> to <paramref name="total"/>, in training order: each
    /// epoch shuffled with its own seed (the same on every rank), so a resumed run sees the batches
    /// the uninterrupted one would have, and a step covers the same examples however many ranks
    /// share it.</summary>
    static IEnumerable<int[]> MicroBatches(int count, StageSettings s, int ranks, long from, long total, long stepsPerEpoch)
    {
        int global = s.BatchSize * ranks;
        int[] order = [];
        long orderEpoch = -1;
        for (long step = from; step < total; step++)
        {
            long epoch = step / stepsPerEpoch;
            if (epoch != orderEpoch)
            {
                order = Enumerable.Range(0, count).ToArray();
                new Random(s.Seed * 100_003 + (int)epoch).Shuffle(order);
                orderEpoch = epoch;
            }
            long local = step - epoch * stepsPerEpoch;
            for (int micro = 0; micro < s.GradientAccumulation; micro++)
            {
                long batchIndex = local * s.GradientAccumulation + micro;
                yield return order.Skip((int)(batchIndex * global)).Take(global).ToArray();
            }
        }
    }

    Tensor Visual(IReadOnlyList<TrainingExample> examples, int[] ids, Dictionary<TrainingImages, (float[] Image1, float[] Image2)> loaded,
        int side, bool useCache, Dictionary<TrainingImages, OneDiffModel.VisionFeatures> cache)
    {
        if (!useCache)
        {
            var a = Pixels(ids.Select(i => loaded[examples[i].Images].Image1), side);
            var b = Pixels(ids.Select(i => loaded[examples[i].Images].Image2), side);
            return _model.EncodePair(a, b);
        }
        var missing = ids.Select(i => examples[i].Images).Distinct(ReferenceEqualityComparer.Instance).Cast<TrainingImages>()
            .Where(p => !cache.ContainsKey(p)).ToArray();
        if (missing.Length > 0)
        {
            using var scope = torch.NewDisposeScope();
            var both = _model.EncodeVision(torch.cat([Pixels(missing.Select(p => loaded[p].Image1), side), Pixels(missing.Select(p => loaded[p].Image2), side)], 0));
            for (int k = 0; k < missing.Length; k++)
            {
                var a = both.Slice(k, 1);
                var b = both.Slice(missing.Length + k, 1);
                // Cached as (2, ...): row 0 image 1, row 1 image 2; kept beyond this scope.
                var pair = OneDiffModel.VisionFeatures.Stack([a, b]);
                foreach (var l in pair.Levels) l.DetachFromDisposeScope();
                pair.Patches.DetachFromDisposeScope();
                cache[missing[k]] = pair;
            }
        }
        var first = OneDiffModel.VisionFeatures.Stack(ids.Select(i => cache[examples[i].Images].Slice(0, 1)).ToList());
        var second = OneDiffModel.VisionFeatures.Stack(ids.Select(i => cache[examples[i].Images].Slice(1, 1)).ToList());
        return _model.EncodePair(first, second);
    }

    Tensor Pixels(IEnumerable<float[]> images, int side) =>
        Runtime.HostToDevice.Images(images.ToList(), side, _model.vision_tower.embeddings.patch_embedding.weight!.dtype, _device);
}
