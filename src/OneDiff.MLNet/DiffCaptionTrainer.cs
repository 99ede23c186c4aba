using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using OneDiff.Data;
using OneDiff.Data.Images;
using OneDiff.Data.Readers;
using OneDiff.Metrics;
using OneDiff.Modeling.Distributed;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Runtime;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Prompting;
using OneDiff.Modeling.Tokenization;
using OneDiff.Modeling.Training;
using TorchSharp;

namespace OneDiff.MLNet;

/// <summary>
/// Trains OneDiff inside an ML.NET pipeline: stage I, Coupled Sample Training on pseudo pairs made
/// from single-image captions (when given; only the delta module and projectors learn), then
/// stage II, instruction tuning on image pairs with reference captions (all but the vision tower).
/// <see cref="Fit"/> returns a <see cref="DiffCaptionTransformer"/>.
/// </summary>
public sealed class DiffCaptionTrainer : IEstimator<DiffCaptionTransformer>
{
    /// <summary>Options; defaults follow the paper where it says, and docs/training.md where it does not.</summary>
    public sealed class Options
    {
        public string Image1ColumnName { get; set; } = "Image1";
        public string Image2ColumnName { get; set; } = "Image2";
        public string ReferencesColumnName { get; set; } = "References";
        public string? PromptColumnName { get; set; } = "Prompt";
        public string? TaskColumnName { get; set; } = "Task";
        public string PredictedCaptionColumnName { get; set; } = "PredictedCaption";

        /// <summary>"Vicuna7B", "Qwen2_7B" or "Tiny"; the folders below replace what they hold.</summary>
        public string Preset { get; set; } = "Vicuna7B";
        public string? ClipFolder { get; set; }
        public string? BertFolder { get; set; }
        public string? LlmFolder { get; set; }
        // The model's open choices (OneDiffConfig); null: the preset's.
        /// <summary>How the pair's patch features enter the LLM; null: the preset's (Tiny: channel
        /// concatenation, the others: the [A][B] sequence).</summary>
        public PairFusion? Fusion { get; set; }
        /// <summary>What each cross-attention block of the delta module reads: all six maps (the
        /// presets) or one level per block (needs one cross-attention block per level).</summary>
        public DeltaReadout? Readout { get; set; }
        /// <summary>Learned delta tokens (the paper: 32; Tiny: 8).</summary>
        public int? NumDeltaTokens { get; set; }
        /// <summary>The CLIP hidden states the delta module reads, Hugging Face indexing (the paper: 8, 16, 24).</summary>
        public int[]? DeltaFeatureLayers { get; set; }
        /// <summary>The CLIP hidden state whose patches enter the LLM (LLaVA: -2, the penultimate).</summary>
        public int? PatchFeatureLayer { get; set; }
        /// <summary>The conversation template of stage I (plain, as LLaVA's pretraining).</summary>
        public string? StageOneTemplate { get; set; }
        /// <summary>The conversation template of stage II and of captioning (plain, vicuna_v1, chatml);
        /// null: the preset's (Vicuna7B vicuna_v1, Qwen2_7B chatml, Tiny plain, which reads no prompt).</summary>
        public string? StageTwoTemplate { get; set; }

        /// <summary>Single-image captions for stage I: a table with an image column (path) and a caption column.</summary>
        public IDataView? CaptionData { get; set; }
        public string CaptionImageColumnName { get; set; } = "Image";
        public string CaptionColumnName { get; set; } = "Caption";
        /// <summary>Conversations about single images mixed into stage II, as the paper mixes
        /// LLaVA-665K: a table with an image column (path) and question and answer columns (vectors
        /// of text, one element per turn). The model always reads a pair, so the image is shown as
        /// both images (our default); the loss covers the answers only.</summary>
        public IDataView? ConversationData { get; set; }
        public string ConversationImageColumnName { get; set; } = "Image";
        public string ConversationQuestionsColumnName { get; set; } = "Questions";
        public string ConversationAnswersColumnName { get; set; } = "Answers";
        /// <summary>Longest conversation in tokens after its first question (answers and later
        /// questions); longer ones are cut. With the 7B presets' 1,184 visual tokens and the prompt,
        /// 768 keeps a sequence inside Vicuna's 2,048-token context.</summary>
        public int MaxConversationTokens { get; set; } = 768;
        /// <summary>Run stage I; null: when <see cref="CaptionData"/> is given.</summary>
        public bool? RunStageOne { get; set; }

        // How long and how fast each stage trains. Null: the preset's (PresetDefaults): for
        // Vicuna7B and Qwen2_7B the paper's; for Tiny, whose weights are random, values that learn
        // (the quickstart's: CIDEr 390 on held-out procedural pairs against 45 for the best
        // constant caption), since the paper's would leave it saying one caption for every pair.
        /// <summary>Stage I epochs (paper and Tiny: 1).</summary>
        public int? StageOneEpochs { get; set; }
        /// <summary>Stage I optimizer steps, overriding the epochs (Tiny: 20; the 7B presets: the epochs decide).</summary>
        public int? StageOneSteps { get; set; }
        /// <summary>Stage I learning rate of the projectors (paper: 1e-3; Tiny: 2e-3).</summary>
        public double? StageOneProjectorLearningRate { get; set; }
        /// <summary>Stage I learning rate of the delta module (paper: 3e-4; Tiny: 1e-3).</summary>
        public double? StageOneDeltaLearningRate { get; set; }
        /// <summary>Stage II epochs (paper: 1; Tiny: 10).</summary>
        public int? StageTwoEpochs { get; set; }
        /// <summary>Stage II optimizer steps, overriding the epochs.</summary>
        public int? StageTwoSteps { get; set; }
        /// <summary>Stage II learning rate of every trained part (paper: 2e-5; Tiny: 3e-3).</summary>
        public double? StageTwoLearningRate { get; set; }
        /// <summary>Stage II learning rate of the LLM alone (paper: as <see cref="StageTwoLearningRate"/>; Tiny: 5e-4).</summary>
        public double? StageTwoLanguageModelLearningRate { get; set; }
        /// <summary>Stage II trains low-rank adapters (LoRA) of the LLM's projections at this rank
        /// instead of the whole LLM: the LLM's weights, their gradients and optimizer moments stay
        /// out of training memory. The adapters are merged into the LLM when Fit ends, so the model
        /// saves, loads and runs as any other. 0 (the default, and the paper's recipe): the whole
        /// LLM trains. LLaVA-1.5's LoRA recipe uses 128.</summary>
        public int LoraRank { get; set; }
        /// <summary>The adapters' scale is alpha / rank; null: twice the rank (LLaVA-1.5: 256 at 128).</summary>
        public double? LoraAlpha { get; set; }
        /// <summary>Dropout on the adapters' input while training (LLaVA-1.5: 0.05).</summary>
        public double LoraDropout { get; set; } = 0.05;
        /// <summary>The adapters' learning rate (LLaVA-1.5's LoRA recipe: 2e-4); the delta module
        /// and projectors keep <see cref="StageTwoLearningRate"/>.</summary>
        public double LoraLearningRate { get; set; } = 2e-4;
        /// <summary>The LLM projections that get adapters, comma-separated; the default is every
        /// linear layer of the decoder but its output head, as LLaVA-1.5.</summary>
        public string LoraTargets { get; set; } = string.Join(",", LoraConfig.AllTargets);
        /// <summary>The share of a stage's steps over which the learning rate warms up linearly (paper: 0.03; Tiny: 0.05).</summary>
        public double? WarmupFraction { get; set; }
        public double WeightDecay { get; set; }
        public double MaxGradNorm { get; set; } = 1.0;
        /// <summary>Pairs (or, with <see cref="PackReferences"/> off, captions) per micro-batch.</summary>
        public int BatchSize { get; set; } = 8;
        /// <summary>Train all reference captions of a pair in one sequence after a single copy of its
        /// prompt and visual tokens: an epoch's loss is that of one example per caption, at about half
        /// the compute with three references (batches then count pairs).</summary>
        public bool PackReferences { get; set; }
        public int GradientAccumulation { get; set; } = 1;
        /// <summary>Stage I micro-batch; null: <see cref="BatchSize"/>. The paper's stage I batch
        /// (256 in all) is four times its stage II batch (64).</summary>
        public int? StageOneBatchSize { get; set; }
        /// <summary>Stage I gradient accumulation; null: <see cref="GradientAccumulation"/>.</summary>
        public int? StageOneGradientAccumulation { get; set; }
        /// <summary>Recompute the LLM layers' activations in the backward pass instead of keeping
        /// them: the activation memory of one layer rather than of all, for about a third more
        /// compute per step (the 7B preset at larger batches, or on smaller GPUs).</summary>
        public bool GradientCheckpointing { get; set; }
        /// <summary>Update weights kept in bf16 (on CUDA) through fp32 copies with fp32 AdamW
        /// moments, as mixed-precision training does (LLaVA's DeepSpeed runs, which the paper
        /// follows): a bf16 weight resolves about 0.4 % of its value, so at stage II's learning
        /// rate of 2e-5 most updates would otherwise round away. Costs 8 more bytes per trained
        /// parameter (the 7B LLM trained whole: 108 GB of weights, gradients and optimizer state
        /// instead of 54). Nothing changes for fp32 weights (the CPU).</summary>
        public bool MasterWeights { get; set; } = true;
        /// <summary>Longest answer in tokens; longer references are cut.</summary>
        public int MaxAnswerTokens { get; set; } = 64;
        /// <summary>Seeds the model's initialisation, the coupling of stage I and each epoch's order;
        /// null: the MLContext's seed (<c>new MLContext(seed: n)</c>), else 1.</summary>
        public int? Seed { get; set; }
        /// <summary>auto, cpu, cuda, cuda:N (MLContext.GpuDeviceId / FallbackToCpu apply).</summary>
        public string Device { get; set; } = "auto";
        /// <summary>Compute the frozen vision tower's features once per pair (small models, small data).</summary>
        public bool CacheVisionFeatures { get; set; }
        /// <summary>Decode every image once before training (in parallel, nothing kept), so that a bad
        /// file stops Fit before the first step, naming its row and file, rather than when its batch
        /// comes. Training itself loads images a window ahead of each step, never the whole set.</summary>
        public bool CheckImages { get; set; } = true;
        public bool PadToSquare { get; set; }

        /// <summary>Scored after training (and every <see cref="ValidateEvery"/> steps) with the caption metrics.</summary>
        public IDataView? ValidationData { get; set; }
        public int ValidateEvery { get; set; }
        /// <summary>The validation data's group column (change type) for per-group scores, used
        /// when the data has it (the dataset tables do); null: overall only.</summary>
        public string? ValidationGroupColumnName { get; set; } = "Group";
        public string? CheckpointFolder { get; set; }
        /// <summary>Where the run appends <c>metrics.jsonl</c> (a line per logged step and per
        /// validation) and draws <c>training.png</c> at each stage's end; null: the
        /// <see cref="CheckpointFolder"/>; with neither, nothing is written (<see cref="TrainingRecords"/> still holds them).</summary>
        public string? MetricsFolder { get; set; }
        public int CheckpointEvery { get; set; }
        /// <summary>How many of a stage's latest checkpoints stay in <see cref="CheckpointFolder"/>
        /// (0: all). A checkpoint of the 7B LLM trained whole takes about 95 GB with fp32 copies.</summary>
        public int KeepCheckpoints { get; set; } = 2;
        public bool Resume { get; set; }
        /// <summary>Keep the frozen pretrained weights out of the saved model, referenced by folder
        /// and SHA-256 and read from there when it loads: the vision tower's (ClipFolder), and with
        /// LoRA the LLM's (LlmFolder), its adapters saved instead (a 7B model's file then holds
        /// about 0.8 GB in bf16 at rank 128 rather than 14).</summary>
        public bool ExternalBaseWeights { get; set; }

        // Data-parallel training (docs/distributed.md).
        /// <summary>Train as one rank of a data-parallel job: null (the default) when a launcher
        /// started this process as one of several (<c>mpirun -np N</c>, <c>srun</c>: read from the
        /// environment it sets); true also for a job of one process (every collective still runs,
        /// to measure what they cost); false never. Each rank takes <c>cuda:{local rank}</c> (or the
        /// CPU), trains on its share of every batch, and only rank 0 logs and writes checkpoints:
        /// <see cref="BatchSize"/> is per rank, the global batch BatchSize x GradientAccumulation x ranks.</summary>
        public bool? DataParallel { get; set; }
        /// <summary>Keep each trained parameter's fp32 copy and AdamW moments on one rank only
        /// (ZeRO stage 1): a rank holds 1/N of the optimizer state. Off: every rank holds all of it.</summary>
        public bool ShardOptimizerState { get; set; }
        /// <summary>Gradients are summed across ranks this many megabytes at a time; null: the
        /// engine's (NCCL 25, as PyTorch's DDP; MPI on the CPU 4, measured in docs/benchmarks.md).</summary>
        public int? GradientBucketMegabytes { get; set; }
        /// <summary>How long a collective waits for the other ranks before the job is ended as hung.</summary>
        public int CollectiveTimeoutSeconds { get; set; } = 1800;

        public int MaxNewTokens { get; set; } = 32;
        public int NumBeams { get; set; } = 1;
        /// <summary>Stops Fit at its next step, as <c>MLContext.CancelExecution()</c> does: it throws
        /// <see cref="OperationCanceledException"/> after writing a checkpoint when <see cref="CheckpointFolder"/> is set.</summary>
        public CancellationToken Cancellation { get; set; }
    }

    readonly DiffCaptioningCatalog _catalog;
    readonly Options _options;
    public Options TrainerOptions => _options;
    /// <summary>Stage I then stage II losses per optimizer step, of the last Fit.</summary>
    public IReadOnlyList<double> LossHistory { get; private set; } = [];
    /// <summary>The last Fit's training record: a record per logged step and per validation, as
    /// metrics.jsonl holds them.</summary>
    public IReadOnlyList<TrainingRecord> TrainingRecords { get; private set; } = [];
    /// <summary>Validation metrics of the last Fit (null without validation data).</summary>
    public DiffCaptionMetrics? ValidationMetrics { get; private set; }

    internal DiffCaptionTrainer(DiffCaptioningCatalog catalog, Options options)
    {
        _catalog = catalog;
        _options = options ?? throw new ArgumentNullException(nameof(options));
    }

    /// <summary>The options resolved once (<see cref="TrainingPlan"/>): the model Fit builds, both
    /// stages' settings, LoRA, the captioning settings and the columns. Throws an
    /// <see cref="ArgumentException"/> naming an option out of range.</summary>
    public TrainingPlan Plan() => TrainingPlan.Resolve(_options, contextSeed: _catalog.Seed);

    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => SchemaShapes.WithTextColumn(inputSchema, _options.PredictedCaptionColumnName);

    public DiffCaptionTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var plan = Plan();
        plan.ThrowIfFoldersUnreadable();
        ImagePairTable.CheckSchema(input.Schema, plan.Columns.Pairs, requireReferences: true);
        using var ch = _catalog.Host.Start("DiffCaptionTrainer");
        var sw = Stopwatch.StartNew();
        var device = Device(plan);
        if (!device.IsCuda) OutOfMemoryAdvice.CheckFitsHost(plan, device.DefaultDtype);
        using var group = plan.DataParallel
            ? ProcessGroup.Start(plan.Launch, device.ToTorch(), TimeSpan.FromSeconds(plan.CollectiveTimeoutSeconds)) : null;
        var parallel = group is null ? null : new DataParallel(group)
        {
            ShardOptimizerState = plan.ShardOptimizerState, BucketBytes = (long)(plan.GradientBucketMegabytes ?? group.DefaultBucketMegabytes) << 20,
        };
        try
        {
            torch.manual_seed(plan.Seed);
            var model = OneDiffPretrained.Build(plan.Model, plan.Folders, device.ToTorch(), device.DefaultDtype);
            var tokenizer = OneDiffPretrained.Tokenizer(plan.Model, plan.Folders);
            var loop = new TrainingLoop(model, device.ToTorch(), parallel) { Log = message => ch.Info(MessageSensitivity.None, message) };
            var recorder = new TrainingRecorder(plan.Launch.IsMain ? plan.RecordFolder : null, plan.StageTwo.Resume);
            // ML.NET's conventions: progress through a progress channel (stage, step, loss), and
            // MLContext.CancelExecution() stopping at the next step, as the options' token does.
            using var progress = _catalog.Host.StartProgressChannel("OneDiff training");
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(_options.Cancellation);
            var run = new FitRun(plan, model, tokenizer, new ClipImageProcessor(plan.Model.Vision.ImageSize, plan.Examples.PadToSquare), loop, ch, recorder, stop, () => _catalog.CancelRequested);
            progress.SetHeader(new ProgressHeader(["loss"], ["stage", "step"]), entry =>
            {
                if (run.Latest is not { } p) return;
                entry.SetProgress(0, (int)p.Stage, 2);
                entry.SetProgress(1, p.Step, p.TotalSteps);
                entry.SetMetric(0, p.Loss);
            });
            run.Info($"OneDiff {plan.Model.Name} on {device.Name}: {model.ParameterCount():N0} parameters" + (group is null ? "" :
                $"; data-parallel over {group.Size} rank(s) ({plan.Launch.Launcher}, {group.Engine}), optimizer state {(plan.ShardOptimizerState ? "sharded" : "on every rank")}"));
            if (plan.StageOne is { } stageOne) RunStageOne(run, stageOne);
            // The LLM folder's tokenizer goes into the saved model; the tiny one is built in.
            byte[]? tokenizerSource = plan.Folders.Llm is { } llm ? TokenizerArchive.Pack(llm) : null;
            var transformer = new DiffCaptionTransformer(model, tokenizer, tokenizerSource, plan.Captioning, device)
            {
                Host = _catalog.Host,
                ExternalVisionFolder = plan.ExternalBaseWeights ? plan.Folders.Clip : null,
            };
            RunStageTwo(run, input, transformer);
            KeepAdapters(plan, loop, transformer);
            LossHistory = loop.Losses.ToList();
            if (_options.ValidationData is not null && plan.Launch.IsMain) ScoreValidation(transformer, run, 2, recorder.Records.LastOrDefault(r => r.Stage == 2)?.Step ?? 0);
            recorder.Draw();
            TrainingRecords = recorder.Records.ToList();
            run.Info($"trained in {sw.Elapsed:mm\\:ss}");
            return transformer;
        }
        catch (TrainingOutOfMemoryException e) when (group is null) { throw new TrainingOutOfMemoryException(OutOfMemoryAdvice.For(e), e.Settings, e.StateMemory, e.Reason, e); }
        catch (Exception e) when (group is not null && e is not OperationCanceledException)
        {
            // The other ranks would wait for this one in their next collective: end the job.
            group.Abort(e is TrainingOutOfMemoryException oom ? OutOfMemoryAdvice.For(oom) : $"{e.GetType().Name}: {e.Message}");
            throw;
        }
    }

    /// <summary>The device this process trains on: in a data-parallel job on CUDA, the GPU of its
    /// local rank (cuda:{local rank}), unless the options name one.</summary>
    ResolvedDevice Device(TrainingPlan plan)
    {
        var device = _catalog.ResolveDevice(plan.Device);
        bool named = plan.Device.StartsWith("cuda:", StringComparison.OrdinalIgnoreCase);
        return plan.DataParallel && device.IsCuda && !named ? _catalog.ResolveDevice($"cuda:{plan.Launch.LocalRank}") : device;
    }

    /// <summary>What one Fit works with, once the plan is resolved and the model built.</summary>
    sealed record FitRun(TrainingPlan Plan, OneDiffModel Model, TextTokenizer Tokenizer, ClipImageProcessor Processor, TrainingLoop Loop, IChannel Channel,
        TrainingRecorder Recorder, CancellationTokenSource Stop, Func<bool> CancelRequested)
    {
        /// <summary>The last step's progress, which the progress channel reads from its own thread.</summary>
        public StepProgress? Latest { get => Volatile.Read(ref _latest); private set => Volatile.Write(ref _latest, value); }
        StepProgress? _latest;

        /// <summary>Stops the loops: the options' token, or MLContext.CancelExecution().</summary>
        public CancellationToken Cancel => Stop.Token;

        /// <summary>Logs on rank 0 only (the only process when it trains alone).</summary>
        public void Info(string message)
        {
            if (Plan.Launch.IsMain) Channel.Info(MessageSensitivity.None, message);
        }

        /// <summary>Every step that is logged (the first, every tenth, the last) is also recorded.</summary>
        public void Report(StepProgress p)
        {
            Latest = p;
            // Checked on the training thread after every step, so the loop stops before the next one.
            if (CancelRequested()) Stop.Cancel();
            if (!(p.Step == 1 || p.Step == p.TotalSteps || p.Step % 10 == 0)) return;
            Info($"stage {(int)p.Stage} step {p.Step}/{p.TotalSteps}: loss {p.Loss:F4}, lr {p.LearningRate:E2}, {p.SamplesPerSecond:F1} samples/s, {p.Remaining:mm\\:ss} left");
            Recorder.Add(new TrainingRecord
            {
                Stage = (int)p.Stage, Step = p.Step, TotalSteps = p.TotalSteps, Epoch = Math.Round(p.Epoch, 4), Loss = p.Loss,
                LearningRates = p.LearningRates, GradNorm = p.GradNorm, SamplesPerSecond = Math.Round(p.SamplesPerSecond, 3),
            });
        }
    }

    /// <summary>Stage I: Coupled Sample Training on pseudo pairs of the captioned single images.</summary>
    void RunStageOne(FitRun run, StageSettings settings)
    {
        var singles = ImageCaptionTable.Read(_options.CaptionData!, run.Plan.Columns.CaptionImage, run.Plan.Columns.Caption, "CaptionData");
        var pairs = CoupledSamples.Create(singles, run.Plan.Seed);
        var examples = Prepare(pairs.Select(r => new ImagePairRow(r, ImageInput.FromPath(r.Image1), ImageInput.FromPath(r.Image2))),
            new PromptEncoder(run.Tokenizer, ConversationTemplate.ByName(run.Plan.Model.StageOneTemplate)), run.Processor, run.Plan.Examples, pack: false, run.Plan.Launch);
        run.Info($"stage I: {examples.Count} coupled samples from {singles.Count} captioned images");
        run.Loop.Run(examples, settings, run.Report, run.Cancel);
        run.Recorder.Draw();
    }

    /// <summary>Stage II: instruction tuning on the pairs (and conversations), scoring the
    /// validation data every <see cref="TrainingPlan.ValidateEvery"/> steps.</summary>
    void RunStageTwo(FitRun run, IDataView input, DiffCaptionTransformer transformer)
    {
        var plan = run.Plan;
        // Images that arrive in memory (MLImage pixels, preprocessed; encoded bytes) wait on disk until their batch.
        using var spill = new ImageSpill(run.Processor);
        var rows = ImagePairTable.Read(input, plan.Columns.Pairs, requireReferences: true, spill);
        var prompts = new PromptEncoder(run.Tokenizer, ConversationTemplate.ByName(plan.Model.StageTwoTemplate));
        var train = Prepare(rows, prompts, run.Processor, plan.Examples, plan.Examples.PackReferences, plan.Launch);
        if (train.Count == 0) throw new InvalidOperationException("the training data has no rows");
        int answers = train.Sum(e => e.Sequence.Answers.Count);
        run.Info(plan.Examples.PackReferences
            ? $"stage II: {train.Count} pairs with {answers} reference captions (each pair's captions share one sequence)"
            : $"stage II: {answers} examples (one per reference caption)");
        if (_options.ConversationData is { } conversationData)
        {
            var conversations = PrepareConversations(ReadConversations(conversationData, plan.Columns), prompts, run.Processor, plan.Examples, plan.Launch);
            run.Info($"stage II: and {conversations.Count} conversations about single images (each image shown as both images of the pair)");
            train.AddRange(conversations);
        }
        if (plan.Lora is { } lora)
            run.Info($"stage II: LoRA rank {lora.Rank} (alpha {lora.Alpha:G4}, dropout {lora.Dropout:G3}) on {string.Join(", ", lora.Targets)}: " +
                $"{lora.ParameterCount(plan.Model.Llm):N0} adapter parameters train instead of the LLM's {run.Model.language_model.parameters().Distinct().Sum(p => p.numel()):N0}, merged into it when the stage ends");
        Func<long, bool>? afterStep = _options.ValidationData is not null && plan.ValidateEvery > 0 ? step =>
        {
            if (step % plan.ValidateEvery == 0 && plan.Launch.IsMain) { ScoreValidation(transformer, run, 2, step); run.Model.train(); }
            return true;
        } : null;
        run.Loop.Run(train, plan.StageTwo, run.Report, run.Cancel, afterStep);
        run.Recorder.Draw();
    }

    /// <summary>With LoRA on an LLM folder kept out of the saved model, the model saves the
    /// adapters and names the folder; otherwise the adapters, merged already, are let go.</summary>
    static void KeepAdapters(TrainingPlan plan, TrainingLoop loop, DiffCaptionTransformer transformer)
    {
        if (plan.ExternalBaseWeights && plan.Lora is { } lora && plan.Folders.Llm is { } llmFolder)
        {
            transformer.ExternalLlmFolder = llmFolder;
            transformer.Lora = lora;
            transformer.LoraWeights = loop.LoraWeights;
        }
        else foreach (var t in loop.LoraWeights?.Values ?? Enumerable.Empty<TorchSharp.torch.Tensor>()) t.Dispose();
    }

    /// <summary>Captions the validation data and scores it, overall and per group where the data has the group column.</summary>
    void ScoreValidation(DiffCaptionTransformer transformer, FitRun run, int stage, long step)
    {
        var (columns, ch) = (run.Plan.Columns, run.Channel);
        var data = _options.ValidationData!;
        string? group = columns.ValidationGroup is { } g && data.Schema.GetColumnOrNull(g) is { Type: TextDataViewType } ? g : null;
        var scored = transformer.Transform(data);
        ValidationMetrics = _catalog.Evaluate(scored, columns.Pairs.ReferencesColumnName!, columns.PredictedCaption, group);
        ch.Info(MessageSensitivity.None, $"validation: {ValidationMetrics}");
        if (ValidationMetrics.PerGroup.Count > 0) ch.Info(MessageSensitivity.None, ValidationMetrics.ToTable());
        run.Recorder.Add(new TrainingRecord
        {
            Kind = "validation", Stage = stage, Step = step,
            Validation = new Dictionary<string, double>
            {
                ["BLEU-4"] = ValidationMetrics.Bleu4, ["METEOR"] = ValidationMetrics.Meteor, ["ROUGE-L"] = ValidationMetrics.RougeL, ["CIDEr"] = ValidationMetrics.Cider,
            },
        });
    }

    /// <summary>The training examples of <paramref name="rows"/>: encoded prompts, and images that
    /// are loaded when their batch comes (a pair's examples share them).</summary>
    /// <remarks>In a data-parallel job each rank decodes its share of the images up front (every
    /// Size-th row from its rank on); a bad one ends the job with its row and file.</remarks>
    static List<TrainingExample> Prepare(IEnumerable<ImagePairRow> rows, PromptEncoder prompts, ClipImageProcessor processor, ExampleSettings settings, bool pack, LaunchEnvironment launch)
    {
        var list = rows.ToList();
        if (settings.CheckImages && ImageCheck.Problems(list.Where((_, i) => i % launch.Size == launch.Rank)
                .SelectMany(r => new[] { (r.Where, r.Image1), (r.Where, r.Image2) })) is [var first, ..])
            throw new DataException(first);
        var examples = new List<TrainingExample>();
        var errors = new DataReport(BadInputMode.Error);
        foreach (var row in list)
        {
            var images = new TrainingImages(() =>
            {
                var p = PairPreprocessor.PrepareOne(row.Record, row.Image1, row.Image2, processor, errors, row.Where)!;
                return (p.Image1, p.Image2);
            });
            var encoded = row.Record.Captions.Select(caption =>
            {
                var e = prompts.Encode(row.Record.Prompt, caption);
                return e.Answer.Length <= settings.MaxAnswerTokens ? e
                    : e with { Answer = e.Answer[..(settings.MaxAnswerTokens - 1)].Append(prompts.Tokenizer.EosId).ToArray() };
            }).ToList();
            if (pack && encoded.Count > 0) examples.Add(new TrainingExample(images, TrainingSequence.Pack(encoded)));
            else examples.AddRange(encoded.Select(e => new TrainingExample(images, e)));
        }
        return examples;
    }

    /// <summary>Training examples of conversations about single images: one sequence each, the
    /// image on both sides, loaded when its batch comes.</summary>
    static List<TrainingExample> PrepareConversations(List<ImageConversation> conversations, PromptEncoder prompts, ClipImageProcessor processor, ExampleSettings settings, LaunchEnvironment launch)
    {
        var records = conversations.Select(c => (Record: new DiffCapRecord(c.Id, c.Image, c.Image, "", [], "conversation"), Image: ImageInput.FromPath(c.Image))).ToList();
        if (settings.CheckImages && ImageCheck.Problems(records.Where((_, i) => i % launch.Size == launch.Rank).Select(r => (r.Record.Id, r.Image))) is [var first, ..])
            throw new DataException(first);
        var errors = new DataReport(BadInputMode.Error);
        return conversations.Select((c, i) =>
        {
            var (record, image) = records[i];
            var images = new TrainingImages(() =>
            {
                var p = PairPreprocessor.PrepareOne(record, image, image, processor, errors, where: record.Id)!;
                return (p.Image1, p.Image2);
            });
            var e = prompts.EncodeConversation(c.Turns.Select(t => (t.Question, t.Answer)).ToList());
            int max = settings.MaxConversationTokens;
            if (e.Answer.Length > max) e = e with { Answer = e.Answer[..max], AnswerTargets = e.AnswerTargets![..max] };
            return new TrainingExample(images, e);
        }).ToList();
    }

    /// <summary>The conversations of <see cref="Options.ConversationData"/>, checked row by row.</summary>
    static List<ImageConversation> ReadConversations(IDataView data, TrainingColumns columns)
    {
        var schema = data.Schema;
        DataViewSchema.Column Column(string name, string what, bool vector)
        {
            var c = schema.GetColumnOrNull(name) ?? throw new ArgumentException($"ConversationData has no column '{name}' ({what})");
            var type = c.Type is VectorDataViewType v ? v.ItemType : c.Type;
            if (type is not TextDataViewType || (c.Type is VectorDataViewType) != vector)
                throw new ArgumentException($"ConversationData column '{name}' must be {(vector ? "a vector of text" : "text")}, not {c.Type}");
            return c;
        }
        var image = Column(columns.ConversationImage, "image path", vector: false);
        var questions = Column(columns.Questions, "questions, one per turn", vector: true);
        var answers = Column(columns.Answers, "answers, one per turn", vector: true);
        var list = new List<ImageConversation>();
        using var cursor = data.GetRowCursor([image, questions, answers]);
        var gi = cursor.GetGetter<ReadOnlyMemory<char>>(image);
        var gq = cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(questions);
        var ga = cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(answers);
        ReadOnlyMemory<char> vi = default;
        VBuffer<ReadOnlyMemory<char>> vq = default, va = default;
        long row = 0;
        while (cursor.MoveNext())
        {
            gi(ref vi); gq(ref vq); ga(ref va);
            var q = vq.DenseValues().Select(x => x.ToString()).ToList();
            var a = va.DenseValues().Select(x => x.ToString()).ToList();
            if (a.Count == 0 || q.Count != a.Count)
                throw new InvalidOperationException($"ConversationData row {row}: {q.Count} question(s) and {a.Count} answer(s); a conversation needs one answer per question, at least one");
            if (a.FindIndex(x => x.Trim().Length == 0) is var empty and >= 0)
                throw new InvalidOperationException($"ConversationData row {row}: answer {empty + 1} is empty");
            list.Add(new ImageConversation($"ConversationData row {row}", vi.ToString(), q.Zip(a, (x, y) => new ConversationTurn(x, y)).ToList()));
            row++;
        }
        return list;
    }
}
