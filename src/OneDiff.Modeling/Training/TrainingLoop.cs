using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Prompting;
using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Training;

/// <summary>One training example: a pair's images (loaded when its batch comes) and the encoded
/// prompt with its answer, or with all its answers packed after one shared prefix.</summary>
public sealed record TrainingExample(TrainingImages Images, TrainingPrompt Prompt)
{
    public TrainingExample(TrainingImages images, EncodedPrompt prompt) : this(images, new TrainingPrompt(prompt)) { }
    /// <summary>An example whose preprocessed images ((3, S, S) floats each) are in memory.</summary>
    public TrainingExample(float[] image1, float[] image2, EncodedPrompt prompt) : this(TrainingImages.InMemory(image1, image2), new TrainingPrompt(prompt)) { }
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

    /// <summary>Optimizer steps per epoch and in all for <paramref name="examples"/> examples (a
    /// last partial batch is kept; a last partial accumulation is not).</summary>
    public (long PerEpoch, long Total) Steps(int examples)
    {
        long batches = (examples + BatchSize - 1) / BatchSize;
        long perEpoch = Math.Max(1, batches / GradientAccumulation);
        return (perEpoch, MaxSteps ?? perEpoch * Epochs);
    }
}

/// <summary>Progress of a step, for the caller's log.</summary>
public sealed record StepProgress(TrainingStage Stage, long Step, long TotalSteps, double Loss, double LearningRate, double SamplesPerSecond, TimeSpan Remaining);

/// <summary>
/// Trains a <see cref="OneDiffModel"/> for one stage: shuffled batches (seeded per epoch), the loss
/// on answer tokens, gradient accumulation and clipping, AdamW with a warm-up + cosine schedule per
/// parameter group, checkpoints that resume to the same loss curve, and cancellation between steps.
/// </summary>
public sealed class TrainingLoop
{
    readonly OneDiffModel _model;
    readonly Device _device;
    public List<double> Losses { get; } = [];
    /// <summary>The adapters of the last LoRA stage as it ended, before their merge (CPU copies,
    /// by name under the LLM body; <see cref="LlamaModel.CopyLoraWeights"/>); null without LoRA.</summary>
    public Dictionary<string, Tensor>? LoraWeights { get; private set; }

    public TrainingLoop(OneDiffModel model, Device device) { _model = model; _device = device; }

    /// <summary>Where the loop says what it did with checkpoints (resumed from one, set aside an
    /// unfinished one, deleted old ones); null: nowhere.</summary>
    public Action<string>? Log { get; set; }

    public void Run(IReadOnlyList<TrainingExample> examples, StageSettings s, Action<StepProgress>? progress = null, CancellationToken cancel = default, Func<long, bool>? afterStep = null)
    {
        try { RunWithLora(examples, s, progress, cancel, afterStep); }
        catch (Exception e) when (OutOfMemoryAdvice(s, e) is not null) { throw new InvalidOperationException(OutOfMemoryAdvice(s, e, StateMemory(s)), e); }
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
        catch (Exception) { return null; } // the advice goes out without the figure rather than not at all
    }

    /// <summary>For an allocation that failed (libtorch's "out of memory"), what the stage was
    /// running with, what its weights and training state take (<paramref name="memory"/>, where
    /// known) and the settings that take less; null for any other error.</summary>
    public static string? OutOfMemoryAdvice(StageSettings s, Exception e, TrainingMemory? memory = null)
    {
        if (!e.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase) && !e.Message.Contains("can't allocate memory", StringComparison.Ordinal)) return null;
        var ways = new List<string>();
        if (!s.GradientCheckpointing) ways.Add("GradientCheckpointing: true (activations of one layer at a time, about 30 % more time)");
        if (s.BatchSize > 1) ways.Add($"a smaller BatchSize with a larger GradientAccumulation (the same batch of {s.BatchSize * s.GradientAccumulation} per update)");
        if (s.Stage == TrainingStage.InstructionTuning && s.Lora is null) ways.Add("LoraRank 128 (stage II as LoRA: the LLM's gradients and optimizer state go)");
        if (s.MasterWeights) ways.Add("MasterWeights: false (no fp32 copies; in bf16 most small updates are then lost)");
        string first = e.Message.Split('\n', 2)[0].Trim();
        string state = memory is null ? "" : $"Its weights and training state alone take {memory.TotalBytes / (double)(1L << 30):F1} GiB, activations apart. ";
        return $"stage {(int)s.Stage} ran out of memory at batch {s.BatchSize}, checkpointing {(s.GradientCheckpointing ? "on" : "off")}, " +
            $"fp32 copies {(s.MasterWeights ? "on" : "off")}{(s.Lora is null ? "" : $", LoRA rank {s.Lora.Rank}")} ({first}). " + state +
            (ways.Count == 0 ? "Each setting that saves memory is in use already: a larger device is needed." : "Settings that take less: " + string.Join("; ", ways) + ".");
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
        var (stepsPerEpoch, totalSteps) = s.Steps(examples.Count);
        var named = _model.named_parameters().GroupBy(p => p.parameter.Handle).ToDictionary(g => g.Key, g => g.First().name);
        var groups = _model.TrainableParameters().GroupBy(t => t.Group).Select(g =>
            new AdamW.Group(g.Key, s.LearningRates.TryGetValue(g.Key, out var lr) ? lr : throw new ArgumentException($"no learning rate for parameter group '{g.Key}'"),
                g.Select(t => (named[t.Parameter.Handle], t.Parameter)).ToList())).ToList();
        using var optimizer = new AdamW(groups) { WeightDecay = s.WeightDecay, MasterWeights = s.MasterWeights };
        var trainable = groups.SelectMany(g => g.Parameters.Select(p => p.Parameter)).ToList();

        long step = 0;
        if (s.Resume && s.CheckpointFolder is { } folder && LatestCheckpoint(folder, s.Stage) is { } latest)
        {
            step = LoadCheckpoint(latest, optimizer, s.Lora, TrainableNames());
            _model.SetStage(s.Stage);
            Log?.Invoke($"resumed stage {(int)s.Stage} from {latest} (step {step})");
        }

        var cache = new Dictionary<TrainingImages, OneDiffModel.VisionFeatures>(ReferenceEqualityComparer.Instance);
        var prefetcher = new ImagePrefetcher(examples, MicroBatches(examples.Count, s, step, totalSteps, stepsPerEpoch), s.BatchSize, s.PrefetchPairs, s.CacheVisionFeatures);
        try
        {
            var sw = Stopwatch.StartNew();
            long startStep = step;
            // A step's loss is read back once the next step is queued behind it, so the host never
            // waits for the device in the middle of training (checkpoints and afterStep read it at once).
            (Tensor Loss, long Step, double Scale)? pending = null;
            void Flush()
            {
                if (pending is not { } p) return;
                pending = null;
                double loss;
                using (p.Loss) loss = p.Loss.item<float>();
                Losses.Add(loss);
                double rate = (p.Step - startStep) * s.BatchSize * s.GradientAccumulation / Math.Max(1e-9, sw.Elapsed.TotalSeconds);
                var remaining = TimeSpan.FromSeconds((totalSteps - p.Step) * s.BatchSize * s.GradientAccumulation / Math.Max(1e-9, rate));
                progress?.Invoke(new StepProgress(s.Stage, p.Step, totalSteps, loss, groups.Max(g => g.LearningRate) * p.Scale, rate, remaining));
            }
            try
            {
                while (step < totalSteps)
                {
                    if (cancel.IsCancellationRequested) { Flush(); cancel.ThrowIfCancellationRequested(); }
                    var lossTotal = torch.zeros([], ScalarType.Float32, _device).DetachFromDisposeScope();
                    for (int micro = 0; micro < s.GradientAccumulation; micro++)
                    {
                        var (ids, images) = prefetcher.Next();
                        if (ids.Length == 0) continue;
                        using var scope = torch.NewDisposeScope();
                        // Each micro-batch its own dropout masks, the same however often it is computed.
                        if (s.Lora is not null) body.SetLoraDropoutKey(((long)s.Seed << 40) ^ (step << 8) ^ micro);
                        var visual = Visual(examples, ids, images, side, s.CacheVisionFeatures, cache);
                        var loss = _model.Loss(visual, ids.Select(i => examples[i].Prompt).ToList()).div(Modules.Scalars.Of((long)s.GradientAccumulation));
                        loss.backward();
                        lossTotal.add_(loss.detach(), Modules.Scalars.One);
                    }
                    if (s.MaxGradNorm > 0) GradientClipping.ClipByTotalNorm(trainable, s.MaxGradNorm)?.Dispose();
                    double scale = LearningRateSchedule.Scale(step, totalSteps, s.WarmupFraction);
                    optimizer.Update(scale);
                    optimizer.ZeroGrad();
                    step++;
                    Flush();
                    pending = (lossTotal, step, scale);
                    // Every CheckpointEvery steps, and at the stage's last step: a run stopped later
                    // (in the next stage, in validation, while saving) resumes with this stage done.
                    bool checkpoint = s.CheckpointFolder is not null && s.CheckpointEvery > 0 && (step % s.CheckpointEvery == 0 || step == totalSteps);
                    if (checkpoint || afterStep is not null) Flush();
                    if (checkpoint) SaveCheckpoint(s.CheckpointFolder!, s.Stage, step, optimizer, s.Lora, s.KeepCheckpoints);
                    if (afterStep?.Invoke(step) == false) return;
                }
                Flush();
            }
            finally { pending?.Loss.Dispose(); }
        }
        finally
        {
            foreach (var f in cache.Values) f.Dispose();
            body.GradientCheckpointing = checkpointingBefore;
            _model.eval();
        }
    }

    /// <summary>The micro-batches (example indices) of steps <paramref name="from"/> to
    /// <paramref name="total"/>, in training order: each epoch shuffled with its own seed, so a
    /// resumed run sees the batches the uninterrupted one would have.</summary>
    static IEnumerable<int[]> MicroBatches(int count, StageSettings s, long from, long total, long stepsPerEpoch)
    {
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
                yield return order.Skip((int)(batchIndex * s.BatchSize)).Take(s.BatchSize).ToArray();
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

    static string StageName(TrainingStage stage) => stage == TrainingStage.CoupledSampleTraining ? "stage1" : "stage2";

    /// <summary>Writes the checkpoint into "NAME.partial" and renames it to NAME once complete, so
    /// a write cut off (a killed job, a full disk) never passes for a checkpoint; then deletes the
    /// stage's checkpoints older than the <paramref name="keep"/> latest.</summary>
    void SaveCheckpoint(string folder, TrainingStage stage, long step, AdamW optimizer, LoraConfig? lora, int keep)
    {
        string dir = Path.Combine(folder, $"{StageName(stage)}-step{step:D8}");
        string partial = dir + PartialSuffix;
        foreach (var stale in Directory.Exists(folder) ? Directory.GetDirectories(folder, $"{StageName(stage)}-step*{PartialSuffix}") : [])
        {
            Directory.Delete(stale, recursive: true);
            Log?.Invoke($"deleted {stale}, a checkpoint whose writing was cut off");
        }
        Directory.CreateDirectory(partial);
        var names = TrainableNames();
        var trainable = _model.named_parameters().Where(p => names.Contains(p.name)).Select(p => new KeyValuePair<string, Tensor>(p.name, p.parameter)).ToList();
        SafetensorsWriter.Save(Path.Combine(partial, "trainable.safetensors"), trainable);
        optimizer.Save(Path.Combine(partial, "optimizer.safetensors"));
        File.WriteAllText(Path.Combine(partial, "state.json"), JsonSerializer.Serialize(new { stage = StageName(stage), step, losses = Losses, lora = Describe(lora) }));
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); // the same step written again (a rerun): the new one replaces it
        Directory.Move(partial, dir);
        if (keep <= 0) return;
        foreach (var old in CompleteCheckpoints(folder, stage).SkipLast(keep))
        {
            Directory.Delete(old, recursive: true);
            Log?.Invoke($"deleted {old} (KeepCheckpoints {keep})");
        }
    }

    const string PartialSuffix = ".partial";

    /// <summary>What a checkpoint holds: every parameter name that trains in this stage.</summary>
    HashSet<string> TrainableNames() =>
        _model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToHashSet(StringComparer.Ordinal);

    /// <summary>One checkpoint folder of a run: its stage and step, whether it is complete (a
    /// resumed run takes only those), its size, and from its state.json the last loss and LoRA settings.</summary>
    public sealed record CheckpointInfo(string Path, TrainingStage Stage, long Step, bool Complete, long Bytes, double? LastLoss, string? Lora);

    /// <summary>Every checkpoint in <paramref name="folder"/> (a run's CheckpointFolder), by stage then step.</summary>
    public static List<CheckpointInfo> ListCheckpoints(string folder)
    {
        var found = new List<CheckpointInfo>();
        if (!Directory.Exists(folder)) return found;
        foreach (var stage in new[] { TrainingStage.CoupledSampleTraining, TrainingStage.InstructionTuning })
        {
            var complete = CompleteCheckpoints(folder, stage).ToHashSet(StringComparer.Ordinal);
            foreach (var dir in Directory.GetDirectories(folder, $"{StageName(stage)}-step*").Order(StringComparer.Ordinal))
            {
                string name = System.IO.Path.GetFileName(dir);
                string digits = name[$"{StageName(stage)}-step".Length..];
                if (digits.EndsWith(PartialSuffix, StringComparison.Ordinal)) digits = digits[..^PartialSuffix.Length];
                if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long step)) continue; // not one of ours
                long bytes = new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
                double? lastLoss = null;
                string? lora = null;
                bool ok = complete.Contains(dir);
                if (ok)
                {
                    using var state = JsonDocument.Parse(File.ReadAllText(System.IO.Path.Combine(dir, "state.json")));
                    if (state.RootElement.TryGetProperty("losses", out var losses) && losses.GetArrayLength() > 0) lastLoss = losses[losses.GetArrayLength() - 1].GetDouble();
                    if (state.RootElement.TryGetProperty("lora", out var l)) lora = l.GetString();
                }
                found.Add(new CheckpointInfo(dir, stage, step, ok, bytes, lastLoss, lora));
            }
        }
        return found;
    }

    /// <summary>The stage's complete checkpoints (renamed from ".partial", state.json written last), oldest first.</summary>
    static IEnumerable<string> CompleteCheckpoints(string folder, TrainingStage stage) =>
        (Directory.Exists(folder) ? Directory.GetDirectories(folder, $"{StageName(stage)}-step*") : [])
            .Where(d => !d.EndsWith(PartialSuffix, StringComparison.Ordinal) && File.Exists(Path.Combine(d, "state.json")))
            .Order(StringComparer.Ordinal);

    /// <summary>The stage's latest complete checkpoint; an unfinished one (cut off while written)
    /// is left where it is and named in the log.</summary>
    string? LatestCheckpoint(string folder, TrainingStage stage)
    {
        if (!Directory.Exists(folder)) return null;
        var complete = CompleteCheckpoints(folder, stage).ToList();
        foreach (var d in Directory.GetDirectories(folder, $"{StageName(stage)}-step*").Except(complete).Order(StringComparer.Ordinal))
            Log?.Invoke($"left aside {d}: an unfinished checkpoint (its writing was cut off), not resumed from");
        return complete.LastOrDefault();
    }

    /// <summary>LoRA settings as a checkpoint records them ("none" without LoRA).</summary>
    static string Describe(LoraConfig? lora) => lora is null ? "none"
        : FormattableString.Invariant($"rank {lora.Rank}, alpha {lora.Alpha}, dropout {lora.Dropout}, targets {string.Join(",", lora.Targets)}");

    /// <summary>Restores a checkpoint of a run that trained the same parameters the same way;
    /// another run's (other LoRA settings, another stage setup) is an error naming the difference,
    /// not a silent partial load.</summary>
    long LoadCheckpoint(string dir, AdamW optimizer, LoraConfig? lora, HashSet<string> trainable)
    {
        using var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "state.json")));
        string savedLora = state.RootElement.TryGetProperty("lora", out var l) ? l.GetString() ?? "none" : "none";
        if (savedLora != Describe(lora))
            throw new InvalidOperationException($"{dir} was written with LoRA {savedLora}, and this run has LoRA {Describe(lora)}: " +
                "resume with the same settings, or give this run another CheckpointFolder");
        using (var ck = SafetensorsCheckpoint.Open(Path.Combine(dir, "trainable.safetensors")))
        {
            var missing = trainable.Where(n => !ck.Contains(n)).Order(StringComparer.Ordinal).ToList();
            var extra = ck.Names.Where(n => !trainable.Contains(n)).Order(StringComparer.Ordinal).ToList();
            if (missing.Count + extra.Count > 0)
                throw new InvalidOperationException($"{dir} holds other trainable parameters than this run trains ({missing.Count} missing, such as " +
                    $"'{missing.FirstOrDefault() ?? "-"}'; {extra.Count} not trained here, such as '{extra.FirstOrDefault() ?? "-"}'): give this run another CheckpointFolder");
            ck.LoadInto(_model, strict: false, n => ck.Contains(n) ? n : null);
        }
        optimizer.Load(Path.Combine(dir, "optimizer.safetensors"));
        Losses.Clear();
        Losses.AddRange(state.RootElement.GetProperty("losses").EnumerateArray().Select(x => x.GetDouble()));
        return state.RootElement.GetProperty("step").GetInt64();
    }
}
