namespace OneDiff.Metrics.Meteor;

/// <summary>Meteor's sufficient statistics for one hypothesis (against its best reference), or
/// summed over a corpus.</summary>
public sealed class MeteorStats
{
    public int TestLength, ReferenceLength, TestFunctionWords, ReferenceFunctionWords, Chunks;
    public int[] TestContent = [], ReferenceContent = [], TestFunction = [], ReferenceFunction = [];

    public int TestTotalMatches => TestContent.Sum() + TestFunction.Sum();
    public int ReferenceTotalMatches => ReferenceContent.Sum() + ReferenceFunction.Sum();

    /// <summary>A perfect match (all words matched in one chunk) has no fragmentation.</summary>
    public bool IsPerfect => TestTotalMatches == TestLength && ReferenceTotalMatches == ReferenceLength && Chunks == 1;

    /// <summary>Meteor's addStats: sums everything, but the chunks of perfect matches (into this
    /// instance's own arrays: a bootstrap adds millions).</summary>
    public void Add(MeteorStats s)
    {
        TestLength += s.TestLength; ReferenceLength += s.ReferenceLength;
        TestFunctionWords += s.TestFunctionWords; ReferenceFunctionWords += s.ReferenceFunctionWords;
        AddInto(ref TestContent, s.TestContent); AddInto(ref ReferenceContent, s.ReferenceContent);
        AddInto(ref TestFunction, s.TestFunction); AddInto(ref ReferenceFunction, s.ReferenceFunction);
        if (!s.IsPerfect) Chunks += s.Chunks;
    }

    static void AddInto(ref int[] a, int[] b)
    {
        // A shorter array is replaced by a longer copy, so an array this instance sums into is its own.
        if (a.Length < b.Length) Array.Resize(ref a, b.Length);
        for (int i = 0; i < b.Length; i++) a[i] += b[i];
    }
}

/// <summary>Meteor's parameters: English "rank" task defaults of Meteor 1.5.</summary>
public sealed record MeteorParameters(double Alpha, double Beta, double Gamma, double Delta, double[] ModuleWeights)
{
    /// <summary>alpha 0.85, beta 0.2, gamma 0.6, delta 0.75; weights exact 1.0, stem 0.6,
    /// synonym 0.8, paraphrase 0.6 (taken in module order, as Meteor sizes them).</summary>
    public static MeteorParameters English(int moduleCount) =>
        new(0.85, 0.20, 0.60, 0.75, new[] { 1.0, 0.6, 0.8, 0.6 }.Take(moduleCount).ToArray());
}

/// <summary>
/// METEOR 1.5 as coco-caption runs it (<c>-l en -norm</c>): each hypothesis is normalised and
/// aligned with every reference, the best-scoring reference's statistics are kept, an item's
/// score comes from its statistics and the corpus score from the summed statistics.
/// </summary>
public sealed class MeteorScorer
{
    readonly MeteorAligner _aligner;
    readonly MeteorResources _resources;
    public IReadOnlyList<MeteorModule> Modules { get; }
    public MeteorParameters Parameters { get; }

    /// <summary>Modules exact, stem and synonym (the paraphrase table is not shipped).</summary>
    public MeteorScorer() : this([MeteorModule.Exact, MeteorModule.Stem, MeteorModule.Synonym], MeteorResources.English) { }

    public MeteorScorer(MeteorModule[] modules, MeteorResources resources, MeteorParameters? parameters = null)
    {
        if (modules.Contains(MeteorModule.Paraphrase))
            throw new NotSupportedException("the paraphrase module needs Meteor's paraphrase-en table, which is not supported yet");
        Modules = modules;
        Parameters = parameters ?? MeteorParameters.English(modules.Length);
        _resources = resources;
        _aligner = new MeteorAligner(modules);
    }

    static readonly char[] Whitespace = [' ', '\t', '\n', '\r', '\f'];

    MeteorWord[] Words(string normalized) =>
        normalized.Split(Whitespace, StringSplitOptions.RemoveEmptyEntries).Select(_resources.Word).ToArray();

    /// <summary>Statistics of one hypothesis against its best reference (Meteor's SCORE).</summary>
    public MeteorStats Statistics(string hypothesis, IReadOnlyList<string> references)
    {
        // coco-caption strips "|||" from the hypothesis and collapses double spaces before sending it.
        hypothesis = hypothesis.Replace("|||", "", StringComparison.Ordinal).Replace("  ", " ", StringComparison.Ordinal);
        var hyp = Words(MeteorNormalizer.Normalize(hypothesis.Trim()).ToLowerInvariant());
        MeteorStats? best = null;
        double bestScore = -1;
        foreach (var reference in references)
        {
            var refWords = Words(MeteorNormalizer.Normalize(reference.Trim()).ToLowerInvariant());
            var stats = FromAlignment(_aligner.Align(hyp, refWords));
            double score = Score(stats);
            if (score > bestScore) { best = stats; bestScore = score; }
        }
        return best ?? throw new ArgumentException("METEOR needs at least one reference", nameof(references));
    }

    MeteorStats FromAlignment(MeteorAlignment a) => new()
    {
        TestLength = a.Hypothesis.Length,
        ReferenceLength = a.Reference.Length,
        TestFunctionWords = a.HypFunctionWords,
        ReferenceFunctionWords = a.RefFunctionWords,
        TestContent = a.ContentMatchesHyp,
        ReferenceContent = a.ContentMatchesRef,
        TestFunction = a.FunctionMatchesHyp,
        ReferenceFunction = a.FunctionMatchesRef,
        Chunks = a.Chunks,
    };

    /// <summary>Meteor's computeMetrics: weighted precision and recall, F-mean, fragmentation penalty.</summary>
    public double Score(MeteorStats s)
    {
        var p = Parameters;
        double testWeightedLength = p.Delta * (s.TestLength - s.TestFunctionWords) + (1.0 - p.Delta) * s.TestFunctionWords;
        double refWeightedLength = p.Delta * (s.ReferenceLength - s.ReferenceFunctionWords) + (1.0 - p.Delta) * s.ReferenceFunctionWords;
        double testMatches = 0, refMatches = 0;
        int n = p.ModuleWeights.Length;
        for (int i = 0; i < n; i++) testMatches += At(s.TestContent, i) * p.ModuleWeights[i] * p.Delta;
        for (int i = 0; i < n; i++) refMatches += At(s.ReferenceContent, i) * p.ModuleWeights[i] * p.Delta;
        for (int i = 0; i < n; i++) testMatches += At(s.TestFunction, i) * p.ModuleWeights[i] * (1.0 - p.Delta);
        for (int i = 0; i < n; i++) refMatches += At(s.ReferenceFunction, i) * p.ModuleWeights[i] * (1.0 - p.Delta);
        double precision = testMatches / testWeightedLength;
        double recall = refMatches / refWeightedLength;
        double fMean = 1.0 / ((1.0 - p.Alpha) / precision + p.Alpha / recall);
        double frag = s.IsPerfect ? 0 : s.Chunks / ((double)(s.TestTotalMatches + s.ReferenceTotalMatches) / 2);
        double penalty = p.Gamma * Math.Pow(frag, p.Beta);
        double score = fMean * (1.0 - penalty);
        return double.IsNaN(score) ? 0 : Math.Max(score, 0.0);
    }

    static int At(int[] a, int i) => i < a.Length ? a[i] : 0;

    /// <summary>The corpus score: Meteor's EVAL over the summed statistics.</summary>
    public double CorpusScore(IEnumerable<MeteorStats> items)
    {
        var total = new MeteorStats();
        foreach (var s in items) total.Add(s);
        return Score(total);
    }
}
