using OneDiff.Metrics;

namespace OneDiff.MLNet;

/// <summary>
/// Caption metrics of a scored <c>IDataView</c>, the numbers pycocoevalcap prints (as fractions;
/// papers print them x100), with per-group metrics when a group column was given.
/// </summary>
public sealed class DiffCaptionMetrics
{
    public double Bleu1 { get; }
    public double Bleu2 { get; }
    public double Bleu3 { get; }
    public double Bleu4 { get; }
    public double Meteor { get; }
    public double RougeL { get; }
    /// <summary>CIDEr-D, which pycocoevalcap reports as "CIDEr".</summary>
    public double Cider { get; }
    /// <summary>Rows scored.</summary>
    public int Count { get; }
    /// <summary>METEOR modules that ran (exact, stem, synonym).</summary>
    public IReadOnlyList<string> MeteorModules { get; }
    /// <summary>Metrics of each group, each group scored as its own set (as papers report per change type).</summary>
    public IReadOnlyDictionary<string, DiffCaptionMetrics> PerGroup { get; }
    /// <summary>The scores' percentile bootstrap interval, when resamples were asked for.</summary>
    public ScoreInterval? Interval { get; }
    /// <summary>The underlying evaluation: item scores, tokens, group sizes.</summary>
    public CaptionEvaluation Evaluation { get; }

    internal DiffCaptionMetrics(CaptionEvaluation evaluation) : this(evaluation, evaluation.Corpus, evaluation.PerItem.Count, evaluation.CorpusInterval, true) { }

    DiffCaptionMetrics(CaptionEvaluation evaluation, CaptionScores s, int count, ScoreInterval? interval, bool withGroups)
    {
        Interval = interval;
        Evaluation = evaluation;
        Bleu1 = s.Bleu1; Bleu2 = s.Bleu2; Bleu3 = s.Bleu3; Bleu4 = s.Bleu4; Meteor = s.Meteor; RougeL = s.RougeL; Cider = s.Cider;
        Count = count;
        MeteorModules = evaluation.MeteorModules;
        PerGroup = withGroups
            ? evaluation.PerGroup.ToDictionary(g => g.Key, g => new DiffCaptionMetrics(evaluation, g.Value, evaluation.GroupSizes[g.Key],
                evaluation.GroupIntervals?.GetValueOrDefault(g.Key), false), StringComparer.Ordinal)
            : new Dictionary<string, DiffCaptionMetrics>();
    }

    /// <summary>A text table: overall, then one row per group (x100), then the intervals if any.</summary>
    public string ToTable() => CaptionReport.ToTable(Evaluation);

    public override string ToString() =>
        $"BLEU-4 {Bleu4 * 100:F2}, METEOR {Meteor * 100:F2}, ROUGE-L {RougeL * 100:F2}, CIDEr {Cider * 100:F2} ({Count} rows)";
}
