namespace OneDiff.Metrics.Meteor;

/// <summary>Meteor's matching modules, in the order they run.</summary>
public enum MeteorModule { Exact = 0, Stem = 1, Synonym = 2, Paraphrase = 3 }

/// <summary>One word-to-word match: <c>Start</c>/<c>Length</c> in the reference,
/// <c>MatchStart</c>/<c>MatchLength</c> in the hypothesis.</summary>
internal sealed record MeteorMatch(int Module, int Start, int Length, int MatchStart, int MatchLength);

/// <summary>An alignment and the counts Meteor's statistics are built from.</summary>
internal sealed class MeteorAlignment
{
    public required MeteorWord[] Hypothesis { get; init; }
    public required MeteorWord[] Reference { get; init; }
    public required MeteorMatch?[] Matches { get; init; }
    public required int[] ContentMatchesHyp { get; init; }
    public required int[] ContentMatchesRef { get; init; }
    public required int[] FunctionMatchesHyp { get; init; }
    public required int[] FunctionMatchesRef { get; init; }
    public required int HypFunctionWords { get; init; }
    public required int RefFunctionWords { get; init; }
    public required int Chunks { get; init; }
}

/// <summary>
/// Meteor 1.5's aligner: all candidate matches by module (exact, Snowball stem, WordNet synonym),
/// unambiguous one-to-one matches fixed, then a beam search (width 40) over the rest that prefers
/// more matched words, then fewer chunks, then less distance. Search arithmetic copies Meteor's
/// (integer match totals, the distance bookkeeping) so ties resolve the same way.
/// </summary>
internal sealed class MeteorAligner
{
    readonly MeteorModule[] _modules;
    readonly double[] _searchWeights;
    readonly int _beamSize;

    public MeteorAligner(MeteorModule[] modules, int beamSize = 40)
    {
        _modules = modules;
        _beamSize = beamSize;
        // The scorer aligns with these weights ("best alignments for evaluation"), not the scoring ones.
        _searchWeights = modules.Select(m => m == MeteorModule.Exact ? 1.0 : 0.5).ToArray();
    }

    sealed class Path
    {
        public MeteorMatch?[] Matches = [];
        public int MatchesHyp, MatchesRef, Chunks, Idx, LastMatchEnd = -1, Distance;
        public bool[] HypUsed = [], RefUsed = [];

        public Path Copy() => new()
        {
            Matches = (MeteorMatch?[])Matches.Clone(), MatchesHyp = MatchesHyp, MatchesRef = MatchesRef, Chunks = Chunks,
            Idx = Idx, LastMatchEnd = LastMatchEnd, Distance = Distance,
            HypUsed = (bool[])HypUsed.Clone(), RefUsed = (bool[])RefUsed.Clone(),
        };

        public bool IsUsed(MeteorMatch m)
        {
            for (int i = 0; i < m.Length; i++) if (RefUsed[m.Start + i]) return true;
            for (int i = 0; i < m.MatchLength; i++) if (HypUsed[m.MatchStart + i]) return true;
            return false;
        }

        public void SetUsed(MeteorMatch m)
        {
            for (int i = 0; i < m.Length; i++) RefUsed[m.Start + i] = true;
            for (int i = 0; i < m.MatchLength; i++) HypUsed[m.MatchStart + i] = true;
        }
    }

    static int Compare(Path x, Path y)
    {
        int matchDiff = (y.MatchesHyp + y.MatchesRef) - (x.MatchesHyp + x.MatchesRef);
        if (matchDiff != 0) return matchDiff > 0 ? 1 : -1;
        int chunkDiff = x.Chunks - y.Chunks;
        if (chunkDiff != 0) return chunkDiff;
        return x.Distance - y.Distance;
    }

    public MeteorAlignment Align(MeteorWord[] hyp, MeteorWord[] reference)
    {
        var matches = new List<MeteorMatch>[reference.Length];
        for (int j = 0; j < matches.Length; j++) matches[j] = [];
        var hypCoverage = new int[hyp.Length];
        var refCoverage = new int[reference.Length];
        void Add(int module, int j, int i)
        {
            matches[j].Add(new MeteorMatch(module, j, 1, i, 1));
            hypCoverage[i]++;
            refCoverage[j]++;
        }

        // Identical sentences need only exact matches (this also avoids beam errors).
        bool identical = hyp.Length == reference.Length && hyp.Zip(reference).All(p => p.First.Text == p.Second.Text);
        int modulesUsed = identical ? 1 : _modules.Length;
        for (int stage = 0; stage < modulesUsed; stage++)
        {
            switch (_modules[stage])
            {
                case MeteorModule.Exact:
                    for (int j = 0; j < reference.Length; j++)
                        for (int i = 0; i < hyp.Length; i++)
                            if (hyp[i].Text == reference[j].Text) Add(stage, j, i);
                    break;
                case MeteorModule.Stem:
                    for (int j = 0; j < reference.Length; j++)
                        for (int i = 0; i < hyp.Length; i++)
                            if (hyp[i].Stem == reference[j].Stem && hyp[i].Text != reference[j].Text) Add(stage, j, i);
                    break;
                case MeteorModule.Synonym:
                    for (int j = 0; j < reference.Length; j++)
                        for (int i = 0; i < hyp.Length; i++)
                            if (hyp[i].Text != reference[j].Text && SortedOverlap(hyp[i].Synsets, reference[j].Synsets)) Add(stage, j, i);
                    break;
                default:
                    throw new NotSupportedException($"Meteor module {_modules[stage]} needs its table, which is not loaded");
            }
        }

        var start = new Path { Matches = new MeteorMatch?[reference.Length], HypUsed = new bool[hyp.Length], RefUsed = new bool[reference.Length] };
        // One-to-one matches that nothing else competes with are definite.
        for (int j = 0; j < reference.Length; j++)
        {
            if (matches[j].Count != 1) continue;
            var m = matches[j][0];
            bool overlap = false;
            for (int k = 0; k < m.Length; k++) if (refCoverage[j + k] != 1) overlap = true;
            for (int k = 0; k < m.MatchLength; k++) if (hypCoverage[m.MatchStart + k] != 1) overlap = true;
            if (overlap) continue;
            start.Matches[j] = m;
            start.SetUsed(m);
        }

        var best = Resolve(matches, start);

        bool[] hypFunction = hyp.Select(w => w.IsFunction).ToArray();
        bool[] refFunction = reference.Select(w => w.IsFunction).ToArray();
        int n = _modules.Length;
        var contentHyp = new int[n]; var contentRef = new int[n]; var functionHyp = new int[n]; var functionRef = new int[n];
        foreach (var m in best.Matches)
        {
            if (m is null) continue;
            for (int k = 0; k < m.MatchLength; k++) if (hypFunction[m.MatchStart + k]) functionHyp[m.Module]++; else contentHyp[m.Module]++;
            for (int k = 0; k < m.Length; k++) if (refFunction[m.Start + k]) functionRef[m.Module]++; else contentRef[m.Module]++;
        }
        return new MeteorAlignment
        {
            Hypothesis = hyp, Reference = reference, Matches = best.Matches,
            ContentMatchesHyp = contentHyp, ContentMatchesRef = contentRef, FunctionMatchesHyp = functionHyp, FunctionMatchesRef = functionRef,
            HypFunctionWords = hypFunction.Count(f => f), RefFunctionWords = refFunction.Count(f => f),
            Chunks = CountChunks(best.Matches),
        };
    }

    static bool SortedOverlap(int[] a, int[] b)
    {
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            if (a[i] == b[j]) return true;
            if (a[i] < b[j]) i++; else j++;
        }
        return false;
    }

    Path Resolve(List<MeteorMatch>[] matches, Path start)
    {
        var next = new List<Path> { start };
        for (int current = 0; current <= matches.Length; current++)
        {
            // Java's Collections.sort is stable; so is OrderBy.
            var paths = next.Count > 1 ? next.Order(Comparer<Path>.Create(Compare)).ToList() : next;
            next = [];
            for (int rank = 0; rank < _beamSize && rank < paths.Count; rank++)
            {
                var path = paths[rank];
                if (current == matches.Length)
                {
                    if (path.LastMatchEnd != -1) path.Chunks++;
                    next.Add(path);
                    continue;
                }
                if (path.RefUsed[current])
                {
                    if (current < path.Idx) next.Add(path);
                    else if (path.Matches[path.Idx] is { } fixedMatch)
                    {
                        Extend(path, fixedMatch);
                        path.Distance += Math.Abs(fixedMatch.Start - fixedMatch.MatchStart);
                        next.Add(path);
                    }
                    continue;
                }
                foreach (var m in matches[current])
                {
                    if (path.IsUsed(m)) continue;
                    var newPath = path.Copy();
                    newPath.SetUsed(m);
                    newPath.Matches[current] = m;
                    Extend(newPath, m);
                    // Meteor adds this distance to the path being branched from, not the new one.
                    path.Distance += Math.Abs(m.Start - m.MatchStart);
                    next.Add(newPath);
                }
                if (path.LastMatchEnd != -1)
                {
                    path.Chunks++;
                    path.LastMatchEnd = -1;
                }
                path.Idx++;
                next.Add(path);
            }
            if (next.Count == 0) next.Add(paths[0]);
        }
        return next.Order(Comparer<Path>.Create(Compare)).First();
    }

    void Extend(Path path, MeteorMatch m)
    {
        // Meteor keeps these totals in ints: each weighted addition is truncated.
        path.MatchesHyp = (int)(path.MatchesHyp + m.MatchLength * _searchWeights[m.Module]);
        path.MatchesRef = (int)(path.MatchesRef + m.Length * _searchWeights[m.Module]);
        if (path.LastMatchEnd != -1 && m.MatchStart != path.LastMatchEnd) path.Chunks++;
        path.Idx = m.Start + m.Length;
        path.LastMatchEnd = m.MatchStart + m.MatchLength;
    }

    static int CountChunks(MeteorMatch?[] matches)
    {
        int chunks = 0, idx = 0, lastMatchEnd = -1;
        while (idx < matches.Length)
        {
            var m = matches[idx];
            if (m is null)
            {
                if (lastMatchEnd != -1) { chunks++; lastMatchEnd = -1; }
                idx++;
            }
            else
            {
                if (lastMatchEnd != -1 && m.MatchStart != lastMatchEnd) chunks++;
                idx = m.Start + m.Length;
                lastMatchEnd = m.MatchStart + m.MatchLength;
            }
        }
        if (lastMatchEnd != -1) chunks++;
        return chunks;
    }
}
