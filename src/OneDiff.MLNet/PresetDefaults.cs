namespace OneDiff.MLNet;

/// <summary>
/// What a preset trains with where the options leave it open: for the 7B presets the paper's
/// recipe (section 4.1: stage I lr 1e-3 for the projectors and 3e-4 for the delta module, stage II
/// 2e-5, one epoch each, 3 % warm-up); for Tiny, whose weights are random, the settings that make
/// it learn on the procedural dataset (the quickstart's, docs/benchmarks.md): the paper's would
/// leave it saying one caption for every pair (CIDEr 16).
/// </summary>
public sealed record PresetDefaults(
    int StageOneEpochs, int? StageOneSteps, double StageOneProjectorLearningRate, double StageOneDeltaLearningRate,
    int StageTwoEpochs, double StageTwoLearningRate, double? StageTwoLanguageModelLearningRate, double WarmupFraction)
{
    public static PresetDefaults Paper { get; } = new(1, null, 1e-3, 3e-4, 1, 2e-5, null, 0.03);
    public static PresetDefaults Tiny { get; } = new(1, 20, 2e-3, 1e-3, 10, 3e-3, 5e-4, 0.05);

    public static PresetDefaults For(string preset) => preset == "Tiny" ? Tiny : Paper;
}
