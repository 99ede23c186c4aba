namespace OneDiff.MLNet;

public sealed partial class DiffCaptioningCatalog
{
    DiffCaptioningTrainers? _trainers;

    /// <summary>The trainers: <c>mlContext.DiffCaptioning().Trainers.OneDiff(...)</c>.</summary>
    public DiffCaptioningTrainers Trainers => _trainers ??= new DiffCaptioningTrainers(this);
}

/// <summary>Difference-captioning trainers.</summary>
public sealed class DiffCaptioningTrainers
{
    readonly DiffCaptioningCatalog _catalog;
    internal DiffCaptioningTrainers(DiffCaptioningCatalog catalog) => _catalog = catalog;

    /// <summary>The OneDiff trainer with its options.</summary>
    public DiffCaptionTrainer OneDiff(DiffCaptionTrainer.Options options) => new(_catalog, options);

    /// <summary>The OneDiff trainer with the common settings; everything else as in <see cref="DiffCaptionTrainer.Options"/>.</summary>
    /// <param name="preset">"Tiny" (trains on a CPU in minutes, from random weights), or "Vicuna7B" /
    /// "Qwen2_7B" (the paper's model, which needs its pretrained folders: use the Options overload to give them).</param>
    /// <param name="stageTwoEpochs">null: the preset's (Tiny: 10; the paper's: 1).</param>
    public DiffCaptionTrainer OneDiff(string preset, string image1ColumnName = "Image1", string image2ColumnName = "Image2", string referencesColumnName = "References",
        string predictedCaptionColumnName = "PredictedCaption", int? stageTwoEpochs = null, int batchSize = 8, string device = "auto") =>
        new(_catalog, new DiffCaptionTrainer.Options
        {
            Image1ColumnName = image1ColumnName, Image2ColumnName = image2ColumnName, ReferencesColumnName = referencesColumnName,
            PredictedCaptionColumnName = predictedCaptionColumnName, Preset = preset, StageTwoEpochs = stageTwoEpochs, BatchSize = batchSize, Device = device,
        });
}
