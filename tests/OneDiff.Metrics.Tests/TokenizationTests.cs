using OneDiff.Metrics.Tokenization;
using Xunit;

namespace OneDiff.Metrics.Tests;

public class TokenizationTests
{
    public static TheoryData<string> TokenizedCases() => new(MetricsCase.Names().Where(n => !n.EndsWith(".pretokenized")));

    [Theory]
    [MemberData(nameof(TokenizedCases))]
    public void TokensEqualTheReferenceTokensExactly(string name)
    {
        var c = MetricsCase.Load(name);
        var tokens = c.Expected.GetProperty("_tokens");
        var failures = new List<string>();
        foreach (var (id, refs) in c.Refs)
        {
            var want = tokens.GetProperty("refs").GetProperty(id).EnumerateArray().Select(x => x.GetString()!).ToList();
            for (int i = 0; i < refs.Count; i++)
            {
                string got = CocoCaptionTokenizer.Tokenize(refs[i]);
                if (got != want[i]) failures.Add($"{id} ref {i}: {refs[i]!} -> [{got}] want [{want[i]}]");
            }
            string cand = CocoCaptionTokenizer.Tokenize(c.Cands[id]);
            string wantCand = tokens.GetProperty("cands").GetProperty(id).GetString()!;
            if (cand != wantCand) failures.Add($"{id} cand: {c.Cands[id]} -> [{cand}] want [{wantCand}]");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [InlineData("The man isn't there.", "the man is n't there")]
    [InlineData("he can't and won't", "he ca n't and wo n't")]
    [InlineData("I cannot see it", "i can not see it")]
    [InlineData("the sign (left) is gone", "the sign -lrb- left -rrb- is gone")]
    [InlineData("the U.S. flag", "the u.s. flag")]
    [InlineData("cost $5 or 50%", "cost $ 5 or 50 %")]
    [InlineData("the t-shirt and car/truck", "the t-shirt and car/truck")]
    [InlineData("gone.the man", "gone.the man")]
    [InlineData("the 🚗 is gone", "the is gone")]
    public void KnownPtbBehaviours(string text, string expected)
    {
        Assert.Equal(expected, CocoCaptionTokenizer.Tokenize(text));
    }
}

public class TokenizationCaseTests
{
    [Theory]
    [InlineData("they wash.", "they wash")]
    [InlineData("Wash. the car", "wash. the car")]
    [InlineData("see etc.", "see etc.")]
    [InlineData("car in spot b.", "car in spot b.")]
    public void AbbreviationsFollowTheLexersCaseRules(string text, string expected)
    {
        Assert.Equal(expected, OneDiff.Metrics.Tokenization.CocoCaptionTokenizer.Tokenize(text));
    }
}
