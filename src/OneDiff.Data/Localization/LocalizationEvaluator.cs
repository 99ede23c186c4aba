namespace OneDiff.Data.Localization;

/// <summary>One pair to score: its map, its images' patch geometry, and where its changes are.</summary>
/// <param name="Group">the change type (the per-group key).</param>
/// <param name="Locations">the changes' boxes; empty for a pair without change.</param>
public sealed record LocalizationItem(string Id, string? Group, ChangeMap Map, PatchGrid Grid, IReadOnlyList<ChangeLocation> Locations);

/// <summary>Pointing-game accuracy and mass share over some pairs (in [0, 1]).</summary>
public sealed record LocalizationScore(int Pairs, double PointingAccuracy, double MassShare);

/// <summary>Scores over the pairs with a located change, overall and per group; pairs without
/// change are counted apart (there is nothing to point at).</summary>
public sealed record LocalizationReport(LocalizationScore Overall, IReadOnlyDictionary<string, LocalizationScore> PerGroup, int PairsWithoutChange);

/// <summary>Scores change maps against known change boxes (<see cref="PointingGame"/>).</summary>
public static class LocalizationEvaluator
{
    public static LocalizationReport Evaluate(IEnumerable<LocalizationItem> items)
    {
        var scored = new List<(string Group, PointingResult Result)>();
        int without = 0;
        foreach (var item in items)
        {
            if (!item.Locations.SelectMany(l => l.Boxes()).Any()) { without++; continue; }
            if (item.Map.Size != item.Grid.Size)
                throw new InvalidDataException($"id {item.Id}: a {item.Map.Size} x {item.Map.Size} map for a {item.Grid.Size} x {item.Grid.Size} patch grid");
            scored.Add((item.Group ?? "(all)", PointingGame.Score(item.Map.Combined(), item.Grid, item.Locations)));
        }
        static LocalizationScore Summary(IReadOnlyCollection<PointingResult> r) => r.Count == 0
            ? new LocalizationScore(0, double.NaN, double.NaN)
            : new LocalizationScore(r.Count, r.Average(x => x.Hit), r.Average(x => x.MassShare));
        var perGroup = scored.GroupBy(s => s.Group, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => Summary(g.Select(x => x.Result).ToList()), StringComparer.Ordinal);
        return new LocalizationReport(Summary(scored.Select(s => s.Result).ToList()), perGroup, without);
    }
}
