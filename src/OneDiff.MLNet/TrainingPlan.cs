using System.Text.Json;
using OneDiff.Modeling.Distributed;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Prompting;
using OneDiff.Modeling.Training;
using static TorchSharp.torch;

namespace OneDiff.MLNet;

/// <summary>Which tables a training run is given. The trainer reads it off its options; a config
/// file names them before they are loaded (<c>train --check</c>).</summary>
public sealed record TrainingInputs(bool Captions, bool Conversations, bool Validation)
{
    public static TrainingInputs Of(DiffCaptionTrainer.Options o) => new(o.CaptionData is not null, o.ConversationData is not null, o.ValidationData is not null);
}

/// <summary>The columns a training run reads and writes.</summary>
public sealed record TrainingColumns(
    ImagePairColumns Pairs, string PredictedCaption,
    string CaptionImage, string Caption,
    string ConversationImage, string Questions, string Answers,
    string? ValidationGroup);

/// <summary>How the tables become training examples.</summary>
public sealed record ExampleSettings(int MaxAnswerTokens, int MaxConversationTokens, bool PackReferences, bool CheckImages, bool PadToSquare);

/// <summary>
/// The trainer's options resolved once. The model config is the preset, then what the model
/// folders' config.json files say, then the options' explicit choices; beside it are both stages'
/// settings, LoRA, the captioning settings and the columns. <see cref="DiffCaptionTrainer.Fit"/>
/// runs it, <c>onediff train --check</c> prints it and counts its memory; neither derives any of
/// these from the options on its own.
/// </summary>
public sealed record TrainingPlan
{
    public required string Preset { get; init; }
    /// <summary>The model Fit builds.</summary>
    public required OneDiffConfig Model { get; init; }
    /// <summary>The folders whose weights Fit loads (those that could be read).</summary>
    public required PretrainedFolders Folders { get; init; }
    /// <summary>What kept a folder option from being read (folder not found, unreadable config,
    /// no LLM folder where the preset needs one); the preset's sizes stand in for that part.
    /// Fit refuses a plan with any; <c>train --check</c> lists them.</summary>
    public required IReadOnlyList<string> FolderProblems { get; init; }
    public required TrainingColumns Columns { get; init; }
    public required ExampleSettings Examples { get; init; }
    /// <summary>Stage I (Coupled Sample Training); null when it does not run.</summary>
    public StageSettings? StageOne { get; init; }
    public required StageSettings StageTwo { get; init; }
    /// <summary>Stage II's LoRA; null when the whole LLM trains.</summary>
    public LoraConfig? Lora => StageTwo.Lora;
    public required CaptioningSettings Captioning { get; init; }
    public required string Device { get; init; }
    public required int Seed { get; init; }
    public required bool ExternalBaseWeights { get; init; }
    /// <summary>Score the validation data every this many stage II steps (0: only at the end).</summary>
    public required int ValidateEvery { get; init; }
    /// <summary>Where metrics.jsonl and training.png go: the options' MetricsFolder, else the
    /// checkpoint folder; null: neither is written.</summary>
    public required string? RecordFolder { get; init; }
    /// <summary>This process's place in a data-parallel job (rank 0 of 1 when it trains alone).</summary>
    public required LaunchEnvironment Launch { get; init; }
    /// <summary>Whether the data-parallel machinery runs (a job of several processes, or asked for).</summary>
    public required bool DataParallel { get; init; }
    public required bool ShardOptimizerState { get; init; }
    /// <summary>null: the engine's own (<see cref="ProcessGroup.DefaultBucketMegabytes"/>).</summary>
    public required int? GradientBucketMegabytes { get; init; }
    public required int CollectiveTimeoutSeconds { get; init; }

    /// <summary>The ranks the batches are shared among.</summary>
    public int Ranks => Launch.Size;

    /// <summary>Examples per optimizer step in a stage: micro-batch x accumulation x ranks.</summary>
    public long GlobalBatch(StageSettings stage) => (long)stage.BatchSize * stage.GradientAccumulation * Ranks;

    /// <summary>The plan as if <paramref name="ranks"/> processes ran it (train --check --gpus N).</summary>
    public TrainingPlan WithRanks(int ranks) => this with { Launch = new LaunchEnvironment(0, 0, ranks, "planned"), DataParallel = ranks > 1 || DataParallel };

    /// <summary>What a stage's weights and training state take on one device with weights of
    /// <paramref name="dtype"/>, counted on this plan's model built on the meta device (nothing allocated).
    /// With several ranks and <see cref="ShardOptimizerState"/>, that of the rank holding the most.</summary>
    public TrainingMemory Memory(TrainingStage stage, ScalarType dtype) =>
        TrainingMemory.Of(Model, stage, stage == TrainingStage.InstructionTuning ? Lora : null, dtype, StageTwo.MasterWeights, ShardOptimizerState ? Ranks : 1);

    /// <summary>Throws when a model folder could not be read: Fit would build another model than the options ask for.</summary>
    public void ThrowIfFoldersUnreadable()
    {
        if (FolderProblems.Count > 0) throw new DirectoryNotFoundException(string.Join("; ", FolderProblems));
    }

    /// <summary>Resolves <paramref name="o"/>. An option out of range, or a choice the model
    /// cannot take, throws an <see cref="ArgumentException"/> naming it; a folder that cannot be
    /// read is recorded in <see cref="FolderProblems"/>.</summary>
    /// <param name="inputs">the tables the run is given; null: those set on <paramref name="o"/>.</param>
    /// <param name="contextSeed">the MLContext's seed, taken where <see cref="DiffCaptionTrainer.Options.Seed"/> is not set.</param>
    public static TrainingPlan Resolve(DiffCaptionTrainer.Options o, TrainingInputs? inputs = null, int? contextSeed = null)
    {
        ArgumentNullException.ThrowIfNull(o);
        inputs ??= TrainingInputs.Of(o);
        CheckRanges(o);
        var (model, folders, problems) = ResolveModel(o);
        var lora = LoraOf(o);

        bool stageOne = o.RunStageOne ?? inputs.Captions;
        if (stageOne && !inputs.Captions)
            throw new ArgumentException($"{nameof(o.RunStageOne)} is true, but stage I (Coupled Sample Training) has no {nameof(o.CaptionData)}: single images with captions", nameof(o.RunStageOne));
        var template = ConversationTemplate.ByName(model.StageTwoTemplate);
        if (inputs.Conversations && (!template.IncludePrompt || template.NextUserPrefix is null))
            throw new ArgumentException($"{nameof(o.ConversationData)} needs a stage II template that reads questions and takes turns (vicuna_v1 or chatml); " +
                $"'{template.Name}' does not (set {nameof(o.StageTwoTemplate)})", nameof(o.StageTwoTemplate));
        if (o.GradientBucketMegabytes is < 1) throw new ArgumentException($"{nameof(o.GradientBucketMegabytes)} must be at least 1, not {o.GradientBucketMegabytes}", nameof(o.GradientBucketMegabytes));
        if (o.CollectiveTimeoutSeconds < 1) throw new ArgumentException($"{nameof(o.CollectiveTimeoutSeconds)} must be at least 1, not {o.CollectiveTimeoutSeconds}", nameof(o.CollectiveTimeoutSeconds));
        var launch = o.DataParallel == false ? LaunchEnvironment.Single : LaunchEnvironment.Detect();
        if (o.ExternalBaseWeights && o.ClipFolder is null && !(lora is not null && o.LlmFolder is not null))
            throw new ArgumentException($"{nameof(o.ExternalBaseWeights)} needs {nameof(o.ClipFolder)}, or {nameof(o.LlmFolder)} with LoRA ({nameof(o.LoraRank)} above 0): " +
                "weights from a folder to reference", nameof(o.ExternalBaseWeights));

        var d = PresetDefaults.For(o.Preset);
        int seed = o.Seed ?? contextSeed ?? 1;
        double warmup = o.WarmupFraction ?? d.WarmupFraction;
        StageSettings Stage(TrainingStage stage, int epochs, int? steps, int batchSize, int accumulation, Dictionary<string, double> rates) => new()
        {
            Stage = stage, Epochs = epochs, MaxSteps = steps, BatchSize = batchSize, GradientAccumulation = accumulation, LearningRates = rates,
            WarmupFraction = warmup, WeightDecay = o.WeightDecay, MaxGradNorm = o.MaxGradNorm, Seed = seed,
            CacheVisionFeatures = o.CacheVisionFeatures, GradientCheckpointing = o.GradientCheckpointing, MasterWeights = o.MasterWeights,
            CheckpointFolder = o.CheckpointFolder, CheckpointEvery = o.CheckpointEvery, KeepCheckpoints = o.KeepCheckpoints, Resume = o.Resume,
        };
        double stageTwoRate = o.StageTwoLearningRate ?? d.StageTwoLearningRate;
        var stageTwoRates = new Dictionary<string, double> { ["projectors"] = stageTwoRate, ["delta_module"] = stageTwoRate };
        if (lora is null) stageTwoRates["language_model"] = o.StageTwoLanguageModelLearningRate ?? (o.StageTwoLearningRate is not null ? null : d.StageTwoLanguageModelLearningRate) ?? stageTwoRate;
        else stageTwoRates["lora"] = o.LoraLearningRate;

        var pairs = new ImagePairColumns
        {
            Image1ColumnName = o.Image1ColumnName, Image2ColumnName = o.Image2ColumnName, ReferencesColumnName = o.ReferencesColumnName,
            PromptColumnName = o.PromptColumnName, TaskColumnName = o.TaskColumnName, GroupColumnName = null, IdColumnName = null,
        };
        return new TrainingPlan
        {
            Preset = o.Preset, Model = model, Folders = folders, FolderProblems = problems, RecordFolder = o.MetricsFolder ?? o.CheckpointFolder,
            Columns = new TrainingColumns(pairs, o.PredictedCaptionColumnName, o.CaptionImageColumnName, o.CaptionColumnName,
                o.ConversationImageColumnName, o.ConversationQuestionsColumnName, o.ConversationAnswersColumnName, o.ValidationGroupColumnName),
            Examples = new ExampleSettings(o.MaxAnswerTokens, o.MaxConversationTokens, o.PackReferences, o.CheckImages, o.PadToSquare),
            StageOne = stageOne ? Stage(TrainingStage.CoupledSampleTraining, o.StageOneEpochs ?? d.StageOneEpochs,
                o.StageOneSteps ?? (o.StageOneEpochs is null ? d.StageOneSteps : null), o.StageOneBatchSize ?? o.BatchSize,
                o.StageOneGradientAccumulation ?? o.GradientAccumulation,
                new()
                {
                    ["projectors"] = o.StageOneProjectorLearningRate ?? d.StageOneProjectorLearningRate,
                    ["delta_module"] = o.StageOneDeltaLearningRate ?? d.StageOneDeltaLearningRate,
                }) : null,
            StageTwo = Stage(TrainingStage.InstructionTuning, o.StageTwoEpochs ?? d.StageTwoEpochs, o.StageTwoSteps, o.BatchSize, o.GradientAccumulation, stageTwoRates) with { Lora = lora },
            Captioning = new CaptioningSettings
            {
                Columns = pairs.ForCaptioning(), PredictedCaptionColumnName = o.PredictedCaptionColumnName, Template = model.StageTwoTemplate,
                MaxNewTokens = o.MaxNewTokens, NumBeams = o.NumBeams, BatchSize = Math.Max(o.BatchSize, 16), PadToSquare = o.PadToSquare, Device = o.Device,
            },
            Device = o.Device, Seed = seed, ExternalBaseWeights = o.ExternalBaseWeights, ValidateEvery = o.ValidateEvery,
            Launch = launch, DataParallel = o.DataParallel ?? launch.Size > 1, ShardOptimizerState = o.ShardOptimizerState,
            GradientBucketMegabytes = o.GradientBucketMegabytes, CollectiveTimeoutSeconds = o.CollectiveTimeoutSeconds,
        };
    }

    /// <summary>The preset with the options' explicit choices, resolved against the folders that
    /// can be read; a folder that cannot is a problem, and the preset's part stands in for it.</summary>
    static (OneDiffConfig Model, PretrainedFolders Folders, List<string> Problems) ResolveModel(DiffCaptionTrainer.Options o)
    {
        OneDiffConfig preset;
        try { preset = OneDiffConfig.Preset(o.Preset); }
        catch (ArgumentException e) { throw new ArgumentException(e.Message, nameof(o.Preset), e); }
        var chosen = preset with
        {
            Fusion = o.Fusion ?? preset.Fusion,
            Readout = o.Readout ?? preset.Readout,
            NumDeltaTokens = o.NumDeltaTokens ?? preset.NumDeltaTokens,
            DeltaFeatureLayers = o.DeltaFeatureLayers ?? preset.DeltaFeatureLayers,
            PatchFeatureLayer = o.PatchFeatureLayer ?? preset.PatchFeatureLayer,
            StageOneTemplate = o.StageOneTemplate ?? preset.StageOneTemplate,
            StageTwoTemplate = o.StageTwoTemplate ?? preset.StageTwoTemplate,
        };
        var problems = new List<string>();
        string? Readable(string option, string? folder)
        {
            if (folder is null) return null;
            if (Directory.Exists(folder)) return folder;
            problems.Add($"{option}: folder not found: {folder}");
            return null;
        }
        var folders = new PretrainedFolders(Readable(nameof(o.ClipFolder), o.ClipFolder), Readable(nameof(o.BertFolder), o.BertFolder), Readable(nameof(o.LlmFolder), o.LlmFolder));
        OneDiffConfig model;
        try { model = OneDiffPretrained.Resolve(chosen, folders); }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException or IOException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            problems.Add($"model folders: {e.Message}");
            folders = new PretrainedFolders();
            model = OneDiffPretrained.Resolve(chosen, null);
        }
        if (model.Tokenizer == "folder" && folders.Llm is null && o.LlmFolder is null)
            problems.Add($"{nameof(o.LlmFolder)}: preset {preset.Name} takes its weights and tokenizer from an LLM folder, and none is given");
        try { model.CheckSizes(); }
        catch (InvalidDataException e) { throw new ArgumentException(e.Message, e); } // it names the choice at fault
        return (model, folders, problems);
    }

    /// <summary>Stage II's LoRA settings; null when the whole LLM trains (<see cref="DiffCaptionTrainer.Options.LoraRank"/> 0).</summary>
    static LoraConfig? LoraOf(DiffCaptionTrainer.Options o) => o.LoraRank <= 0 ? null : new LoraConfig
    {
        Rank = o.LoraRank, Alpha = o.LoraAlpha ?? 2.0 * o.LoraRank, Dropout = o.LoraDropout,
        Targets = o.LoraTargets.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
    };

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first option out of its range.</summary>
    static void CheckRanges(DiffCaptionTrainer.Options o)
    {
        static void Positive(string name, long? value)
        {
            if (value is <= 0) throw new ArgumentException($"{name} must be at least 1, not {value}", name);
        }
        static void Rate(string name, double? value)
        {
            if (value is { } v && !(v > 0 && double.IsFinite(v))) throw new ArgumentException($"{name} must be a positive number, not {v}", name);
        }
        Positive(nameof(o.BatchSize), o.BatchSize); Positive(nameof(o.GradientAccumulation), o.GradientAccumulation);
        Positive(nameof(o.StageOneBatchSize), o.StageOneBatchSize); Positive(nameof(o.StageOneGradientAccumulation), o.StageOneGradientAccumulation);
        Positive(nameof(o.StageOneEpochs), o.StageOneEpochs); Positive(nameof(o.StageOneSteps), o.StageOneSteps);
        Positive(nameof(o.StageTwoEpochs), o.StageTwoEpochs); Positive(nameof(o.StageTwoSteps), o.StageTwoSteps);
        Positive(nameof(o.MaxAnswerTokens), o.MaxAnswerTokens); Positive(nameof(o.MaxNewTokens), o.MaxNewTokens); Positive(nameof(o.NumBeams), o.NumBeams);
        Positive(nameof(o.MaxConversationTokens), o.MaxConversationTokens);
        Rate(nameof(o.StageOneProjectorLearningRate), o.StageOneProjectorLearningRate); Rate(nameof(o.StageOneDeltaLearningRate), o.StageOneDeltaLearningRate);
        Rate(nameof(o.StageTwoLearningRate), o.StageTwoLearningRate); Rate(nameof(o.StageTwoLanguageModelLearningRate), o.StageTwoLanguageModelLearningRate);
        if (o.LoraRank < 0) throw new ArgumentException($"{nameof(o.LoraRank)} must not be negative (0: the whole LLM trains), not {o.LoraRank}", nameof(o.LoraRank));
        Rate(nameof(o.LoraLearningRate), o.LoraLearningRate);
        try { LoraOf(o)?.Check(); }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{nameof(o.LoraRank)}/{nameof(o.LoraAlpha)}/{nameof(o.LoraDropout)}/{nameof(o.LoraTargets)}: {e.Message}", nameof(o.LoraTargets), e);
        }
        if (o.WarmupFraction is { } w && !(w is >= 0 and < 1)) throw new ArgumentException($"{nameof(o.WarmupFraction)} must be in [0, 1), not {o.WarmupFraction}", nameof(o.WarmupFraction));
        if (!(o.WeightDecay >= 0)) throw new ArgumentException($"{nameof(o.WeightDecay)} must not be negative, not {o.WeightDecay}", nameof(o.WeightDecay));
        if (!(o.MaxGradNorm >= 0)) throw new ArgumentException($"{nameof(o.MaxGradNorm)} must not be negative (0: no clipping), not {o.MaxGradNorm}", nameof(o.MaxGradNorm));
        if (o.ValidateEvery < 0 || o.CheckpointEvery < 0) throw new ArgumentException($"{nameof(o.ValidateEvery)} and {nameof(o.CheckpointEvery)} must not be negative (0: never)");
        if (o.KeepCheckpoints < 0) throw new ArgumentException($"{nameof(o.KeepCheckpoints)} must not be negative (0: keep all)", nameof(o.KeepCheckpoints));
    }
}
