namespace OneDiff.Modeling.Training;

/// <summary>
/// The two preprocessed images ((3, S, S) floats each) of one training pair, loaded when a batch
/// needs them rather than held for the whole run: the paper's data (some 280k coupled samples and
/// 100k+ pairs at 336 pixels, 2.7 MB of floats a pair) is far larger than host memory. Examples of
/// the same pair share one instance, so cached vision features are computed once per pair.
/// </summary>
public sealed class TrainingImages
{
    readonly Func<(float[] Image1, float[] Image2)> _load;

    /// <param name="load">Decodes and preprocesses both images; called on a worker thread, possibly
    /// once per epoch. Its exceptions reach the training loop's caller unchanged, so they should
    /// name the record and the file.</param>
    public TrainingImages(Func<(float[] Image1, float[] Image2)> load) => _load = load ?? throw new ArgumentNullException(nameof(load));

    /// <summary>Images already in memory (tests, small data).</summary>
    public static TrainingImages InMemory(float[] image1, float[] image2) => new(() => (image1, image2));

    public (float[] Image1, float[] Image2) Load() => _load();
}
