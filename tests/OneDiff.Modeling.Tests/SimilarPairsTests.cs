using OneDiff.Modeling.Retrieval;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

public class SimilarPairsTests
{
    /// <summary>Unit vectors at the given angles (degrees) in the plane: cos of their difference is their similarity.</summary>
    static Tensor Angles(params double[] degrees) =>
        torch.tensor(degrees.SelectMany(d => new[] { (float)Math.Cos(d * Math.PI / 180), (float)Math.Sin(d * Math.PI / 180) }).ToArray(), [degrees.Length, 2]);

    [Fact]
    public void EachRowTakesItsNearestPartnersInsideTheBandAndEachPairIsListedOnce()
    {
        // 0 and 1 are 10 degrees apart (0.985), 1 and 2 are 25 apart (0.906), 3 is a duplicate of 0,
        // 4 is alone (60 degrees from everything: 0.5).
        using var e = Angles(0, 10, 35, 0, 95);
        var pairs = SimilarPairs.Find(e, neighbors: 1, minSimilarity: 0.8, maxSimilarity: 0.99);
        // 0 -> 1, 1 -> 0 or 3 (same 0.985; either is the pair with 1), 2 -> 1, 3 -> 1; duplicates (0, 3) are out of the band; 4 has nobody.
        Assert.Contains(pairs, p => (p.First, p.Second) == (1, 2));
        Assert.Contains(pairs, p => (p.First, p.Second) == (0, 1));
        Assert.Contains(pairs, p => (p.First, p.Second) == (1, 3));
        Assert.DoesNotContain(pairs, p => (p.First, p.Second) == (0, 3));
        Assert.DoesNotContain(pairs, p => p.First == 4 || p.Second == 4);
        Assert.Equal(pairs.Count, pairs.Select(p => (p.First, p.Second)).Distinct().Count());
        Assert.All(pairs, p => Assert.True(p.First < p.Second && p.Similarity >= 0.8 && p.Similarity < 0.99));
        Assert.Equal(Math.Cos(25 * Math.PI / 180), pairs.Single(p => (p.First, p.Second) == (1, 2)).Similarity, 5);
    }

    [Fact]
    public void MoreNeighboursAddTheNextNearestAndBlocksDoNotChangeTheResult()
    {
        var rng = new Random(3);
        var angles = Enumerable.Range(0, 37).Select(_ => rng.NextDouble() * 360).ToArray();
        using var e = Angles(angles);
        var whole = SimilarPairs.Find(e, neighbors: 3, minSimilarity: 0.5, maxSimilarity: 0.9999);
        foreach (int rows in new[] { 1, 5, 36, 64 })
        {
            // The same pairs; the similarities may differ in the last bit with the matmul's shape.
            var blocked = SimilarPairs.Find(e, neighbors: 3, minSimilarity: 0.5, maxSimilarity: 0.9999, blockRows: rows);
            Assert.Equal(whole.Select(p => (p.First, p.Second)), blocked.Select(p => (p.First, p.Second)));
            Assert.All(whole.Zip(blocked), x => Assert.Equal(x.First.Similarity, x.Second.Similarity, 1e-6));
        }

        // Brute force: each row's three most similar others in the band, as unordered pairs.
        var expected = new SortedSet<(int, int)>();
        for (int i = 0; i < angles.Length; i++)
        {
            var best = Enumerable.Range(0, angles.Length).Where(j => j != i)
                .Select(j => (j, s: Math.Cos((angles[i] - angles[j]) * Math.PI / 180)))
                .Where(x => x.s >= 0.5 && x.s < 0.9999).OrderByDescending(x => x.s).Take(3);
            foreach (var (j, _) in best) expected.Add(i < j ? (i, j) : (j, i));
        }
        Assert.Equal(expected, whole.Select(p => (p.First, p.Second)));
    }

    [Fact]
    public void FewRowsAndBadArgumentsAreHandled()
    {
        using var one = Angles(0);
        Assert.Empty(SimilarPairs.Find(one, 1, 0.5, 1.0));
        using var two = Angles(0, 20);
        Assert.Single(SimilarPairs.Find(two, 5, 0.5, 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => SimilarPairs.Find(two, 0, 0.5, 1.0));
        Assert.Throws<ArgumentException>(() => SimilarPairs.Find(two, 1, 0.9, 0.9));
        // With the band reaching past 1, a row must still not pair with itself.
        using var three = Angles(0, 20, 50);
        Assert.Equal([(0, 1), (1, 2)], SimilarPairs.Find(three, 1, 0.5, 1.01).Select(p => (p.First, p.Second)));
        using var flat = torch.ones(4);
        Assert.Throws<ArgumentException>(() => SimilarPairs.Find(flat, 1, 0.5, 1.0));
    }
}
