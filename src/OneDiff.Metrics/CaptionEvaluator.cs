using OneDiff.Metrics.Meteor;
using OneDiff.Metrics.Scorers;
using OneDiff.Metrics.Tokenization;

namespace OneDiff.Metrics;

/// <summary>One scored item: its id, the generated caption, its references and an optional group
/// (change type, dataset, ...).</summary>
public sealed record CaptionItem(string Id, string Candidate, IReadOnlyList<string> References, string? Group = null);

/// <summary>The pycocoevalcap scores (fractions, not x100).</summary>
public sealed record CaptionScores(double Bleu1, double Bleu2, double Bleu3, double Bleu4, double Meteor, double RougeL, double Cider)
{
    /// <summary>pycocoevalcap's key names.</summary>
    public IReadOnlyDictionary<string, double> ToDictionary() => new Dictionary<string, double>
    {
        ["Bleu_1"] = Bleu1, ["Bleu_2"] = Bleu2, ["Bleu_3"] = Bleu3, ["Bleu_4"] = Bleu4,
        ["METEOR"] = Meteor, ["ROUGE_L"] = RougeL, ["CIDEr"] = Cider,
    };
}

/// <summary>Corpus, item and group scores of one evaluation.</summary>
public sealed record CaptionEvaluation(
    CaptionScores Corpus,
    IReadOnlyDictionary<string, CaptionScores> PerItem,
    IReadOnlyDictionary<string, CaptionScores> PerGroup,
    IReadOnlyDictionary<string, int> GroupSizes,
    IReadOnlyList<string> MeteorModules,
    IReadOnlyDictionary<string, (string Candidate, IReadOnlyList<string> References)> Tokens,
    ScoreInterval? CorpusInterval = null,
    IReadOnlyDictionary<string, ScoreInterval>? GroupIntervals = null);

/// <summary>Two systems' captions of the same items, compared by paired bootstrap: each resample
/// draws the same items for both, so the difference's interval leaves out how hard the items are.</summary>
/// <param name="Difference">B - A for the whole set.</param>
/// <param name="DifferenceInterval">the percentile interval of B - A over the resamples.</param>
/// <param name="BFraction">per score, the share of resamples in which B scores higher than A.</param>
/// <param name="PerGroup">the same per group (change type), each group scored as its own set; null
/// when the items have no groups.</param>
public sealed record CaptionComparison(CaptionScores A, CaptionScores B, CaptionScores Difference, ScoreInterval DifferenceInterval, CaptionScores BFraction,
    IReadOnlyDictionary<string, CaptionComparison>? PerGroup = null);

public sealed class CaptionEvaluatorOptions
{
    /// <summary>Run pycocoevalcap's PTB tokenisation first (default). Off for text that is already tokenised.</summary>
    public bool Tokenize { get; init; } = true;

    /// <summary>Compute METEOR (the slowest metric).</summary>
    public bool Meteor { get; init; } = true;

    /// <summary>Score items in parallel (results are identical).</summary>
    public bool Parallel { get; init; } = true;

    /// <summary>Resamples of a percentile bootstrap interval for every score, overall and per group
    /// (<see cref="ScoreInterval"/>); 0 (the default): none. 1,000 is usual.</summary>
    public int BootstrapResamples { get; init; }

    /// <summary>The intervals' confidence.</summary>
    public double Confidence { get; init; } = 0.95;

    /// <summary>Seeds the resampling: the same captions give the same intervals.</summary>
    public int BootstrapSeed { get; init; } = 1;
}

/// <summary>
/// Scores captions exactly as the MS-COCO caption evaluation code (pycocoevalcap) does: PTB
/// tokenisation, BLEU-1..4, METEOR 1.5, ROUGE-L and CIDEr-D. Groups are scored as separate sets,
/// as papers report per change type.
/// </summary>
public sealed class CaptionEvaluator
{
    readonly CaptionEvaluatorOptions _options;
    readonly Lazy<MeteorScorer> _meteor = new(() => new MeteorScorer());

    public CaptionEvaluator(CaptionEvaluatorOptions? options = null) => _options = options ?? new CaptionEvaluatorOptions();

    public CaptionEvaluation Evaluate(IReadOnlyList<CaptionItem> items)
    {
        CheckItems(items);
        if (_options.BootstrapResamples < 0) throw new ArgumentException($"BootstrapResamples must not be negative, not {_options.BootstrapResamples}");
        if (!(_options.Confidence is > 0 and < 1)) throw new ArgumentException($"Confidence must be between 0 and 1, not {_options.Confidence}");
        // Meteor's WordNet data loads while the captions are tokenised.
        var meteorReady = _options.Meteor ? Task.Run(() => _meteor.Value) : Task.CompletedTask;
        var tokenized = Tokenize(items);
        meteorReady.GetAwaiter().GetResult();
        var (corpus, perItem, statistics) = ScoreSet(tokenized);
        var perGroup = new Dictionary<string, CaptionScores>(StringComparer.Ordinal);
        var groupSizes = new Dictionary<string, int>(StringComparer.Ordinal);
        var groupIntervals = new Dictionary<string, ScoreInterval>(StringComparer.Ordinal);
        int groupIndex = 0;
        foreach (var group in tokenized.Where(t => t.Group is not null).GroupBy(t => t.Group!, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var subset = group.ToList();
            var (groupScores, _, groupStatistics) = ScoreSet(subset);
            perGroup[group.Key] = groupScores;
            groupSizes[group.Key] = subset.Count;
            if (_options.BootstrapResamples > 0) groupIntervals[group.Key] = Interval(groupStatistics, ++groupIndex);
        }
        var tokens = tokenized.ToDictionary(t => t.Id, t => (t.Candidate, t.References), StringComparer.Ordinal);
        string[] modules = _options.Meteor ? _meteor.Value.Modules.Select(m => m.ToString().ToLowerInvariant()).ToArray() : [];
        return new CaptionEvaluation(corpus, perItem, perGroup, groupSizes, modules, tokens,
            _options.BootstrapResamples > 0 ? Interval(statistics, 0) : null, _options.BootstrapResamples > 0 ? groupIntervals : null);
    }

    /// <summary>Scores two systems' captions of the same items (same ids, same references) and
    /// compares them by paired bootstrap (<see cref="CaptionEvaluatorOptions.BootstrapResamples"/>,
    /// 1,000 when not set).</summary>
    public CaptionComparison Compare(IReadOnlyList<CaptionItem> a, IReadOnlyList<CaptionItem> b)
    {
        CheckItems(a);
        CheckItems(b);
        if (_options.BootstrapResamples < 0) throw new ArgumentException($"BootstrapResamples must not be negative, not {_options.BootstrapResamples}");
        if (!(_options.Confidence is > 0 and < 1)) throw new ArgumentException($"Confidence must be between 0 and 1, not {_options.Confidence}");
        var byId = b.ToDictionary(i => i.Id, StringComparer.Ordinal);
        foreach (var item in a)
        {
            if (!byId.TryGetValue(item.Id, out var other)) throw new ArgumentException($"item '{item.Id}' is in the first set of captions only");
            if (!item.References.SequenceEqual(other.References)) throw new ArgumentException($"item '{item.Id}' has other references in the second set");
        }
        var idsA = a.Select(i => i.Id).ToHashSet(StringComparer.Ordinal);
        if (b.FirstOrDefault(i => !idsA.Contains(i.Id)) is { } extra) throw new ArgumentException($"item '{extra.Id}' is in the second set of captions only");
        if (_options.Meteor) _ = _meteor.Value;
        // The same order for both, so that a resample draws the same items from each.
        var ordered = Tokenize(a.OrderBy(i => i.Id, StringComparer.Ordinal).ToList());
        var others = Tokenize(ordered.Select(i => byId[i.Id]).ToList());
        var perGroup = new Dictionary<string, CaptionComparison>(StringComparer.Ordinal);
        int stream = 0;
        foreach (var group in ordered.Select((item, k) => (item, k)).Where(x => x.item.Group is not null)
                     .GroupBy(x => x.item.Group!, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
            perGroup[group.Key] = CompareSets(group.Select(x => ordered[x.k]).ToList(), group.Select(x => others[x.k]).ToList(), ++stream);
        return CompareSets(ordered, others, 0) with { PerGroup = perGroup.Count > 0 ? perGroup : null };
    }

    CaptionComparison CompareSets(List<CaptionItem> a, List<CaptionItem> b, int stream)
    {
        var (scoresA, _, statsA) = ScoreSet(a);
        var (scoresB, _, statsB) = ScoreSet(b);
        int resamples = _options.BootstrapResamples > 0 ? _options.BootstrapResamples : 1000;
        var meteor = _options.Meteor ? _meteor.Value : null;
        int seed = unchecked(_options.BootstrapSeed * 7919 + stream);
        var drawsA = BootstrapInterval.Draws(statsA, meteor, resamples, seed, _options.Parallel);
        var drawsB = BootstrapInterval.Draws(statsB, meteor, resamples, seed, _options.Parallel);
        var differences = drawsA.Zip(drawsB, (x, y) => Subtract(y, x)).ToArray();
        double Share(Func<CaptionScores, double> metric) => drawsA.Zip(drawsB).Count(p => metric(p.Second) > metric(p.First)) / (double)resamples;
        var fraction = new CaptionScores(Share(s => s.Bleu1), Share(s => s.Bleu2), Share(s => s.Bleu3), Share(s => s.Bleu4),
            meteor is null ? double.NaN : Share(s => s.Meteor), Share(s => s.RougeL), Share(s => s.Cider));
        return new CaptionComparison(scoresA, scoresB, Subtract(scoresB, scoresA), BootstrapInterval.Ends(differences, _options.Confidence), fraction);
    }

    static CaptionScores Subtract(CaptionScores x, CaptionScores y) =>
        new(x.Bleu1 - y.Bleu1, x.Bleu2 - y.Bleu2, x.Bleu3 - y.Bleu3, x.Bleu4 - y.Bleu4, x.Meteor - y.Meteor, x.RougeL - y.RougeL, x.Cider - y.Cider);

    ScoreInterval Interval(ItemStatistics statistics, int stream) =>
        BootstrapInterval.Compute(statistics, _options.Meteor ? _meteor.Value : null, _options.BootstrapResamples, _options.Confidence,
            unchecked(_options.BootstrapSeed * 7919 + stream), _options.Parallel);

    static void CheckItems(IReadOnlyList<CaptionItem> items)
    {
        if (items.Count == 0) throw new ArgumentException("there are no captions to score", nameof(items));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            if (item.Id is null) throw new ArgumentException("an item has no id", nameof(items));
            if (!seen.Add(item.Id)) throw new ArgumentException($"item id '{item.Id}' appears twice", nameof(items));
            if (item.Candidate is null) throw new ArgumentException($"item '{item.Id}' has no candidate caption (null)", nameof(items));
            if (item.References is null || item.References.Count == 0)
                throw new ArgumentException($"item '{item.Id}' has no reference captions", nameof(items));
            if (item.References.Any(r => r is null)) throw new ArgumentException($"item '{item.Id}' has a null reference", nameof(items));
        }
    }

    List<CaptionItem> Tokenize(IReadOnlyList<CaptionItem> items)
    {
        if (!_options.Tokenize) return items.ToList();
        var result = new CaptionItem[items.Count];
        void One(int i)
        {
            var it = items[i];
            result[i] = it with
            {
                Candidate = CocoCaptionTokenizer.Tokenize(it.Candidate),
                References = it.References.Select(CocoCaptionTokenizer.Tokenize).ToArray(),
            };
        }
        if (_options.Parallel) System.Threading.Tasks.Parallel.For(0, items.Count, One);
        else for (int i = 0; i < items.Count; i++) One(i);
        return result.ToList();
    }

    (CaptionScores Corpus, Dictionary<string, CaptionScores> PerItem, ItemStatistics Statistics) ScoreSet(List<CaptionItem> items)
    {
        var pairs = items.Select(i => (i.Candidate, i.References)).ToList();
        // BLEU and CIDEr-D are corpus passes; they run beside the per-item ROUGE-L and METEOR work.
        var bleuTask = _options.Parallel ? Task.Run(() => BleuScorer.Score(pairs)) : Task.FromResult(BleuScorer.Score(pairs));
        var ciderTask = _options.Parallel ? Task.Run(() => CiderDScorer.Score(pairs)) : Task.FromResult(CiderDScorer.Score(pairs));
        var rouge = new double[items.Count];
        var meteorStats = new MeteorStats[items.Count];
        var meteor = new double[items.Count];
        void One(int i)
        {
            rouge[i] = RougeLScorer.Score(items[i].Candidate, items[i].References);
            if (_options.Meteor)
            {
                meteorStats[i] = _meteor.Value.Statistics(items[i].Candidate, items[i].References);
                meteor[i] = _meteor.Value.Score(meteorStats[i]);
            }
        }
        if (_options.Parallel) System.Threading.Tasks.Parallel.For(0, items.Count, One);
        else for (int i = 0; i < items.Count; i++) One(i);

        var bleu = bleuTask.GetAwaiter().GetResult();
        var cider = ciderTask.GetAwaiter().GetResult();
        double meteorCorpus = _options.Meteor ? _meteor.Value.CorpusScore(meteorStats) : double.NaN;
        var corpus = new CaptionScores(bleu.Corpus[0], bleu.Corpus[1], bleu.Corpus[2], bleu.Corpus[3], meteorCorpus, rouge.Average(), cider.Corpus);
        var perItem = new Dictionary<string, CaptionScores>(StringComparer.Ordinal);
        for (int i = 0; i < items.Count; i++)
            perItem[items[i].Id] = new CaptionScores(bleu.PerItem[0][i], bleu.PerItem[1][i], bleu.PerItem[2][i], bleu.PerItem[3][i],
                _options.Meteor ? meteor[i] : double.NaN, rouge[i], cider.PerItem[i]);
        return (corpus, perItem, new ItemStatistics(bleu.PerItemStats, _options.Meteor ? meteorStats : null, rouge, cider.PerItem));
    }
}
