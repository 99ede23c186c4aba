using System.Text.Json;
using OneDiff.Tests.Common;

namespace OneDiff.Metrics.Tests;

/// <summary>One pycocoevalcap reference case of tests/fixtures/caption-metrics.</summary>
public sealed record MetricsCase(string Name, Dictionary<string, List<string>> Refs, Dictionary<string, string> Cands, JsonElement Expected)
{
    public static string Folder => Path.Combine(TestPaths.Fixtures, "caption-metrics");

    public static IEnumerable<string> Names() =>
        Directory.GetFiles(Folder, "*.expected.json").Select(f => Path.GetFileName(f)[..^".expected.json".Length]).Order();

    public bool Pretokenized => Name.EndsWith(".pretokenized", StringComparison.Ordinal);

    public static MetricsCase Load(string name)
    {
        string inputName = name.EndsWith(".pretokenized", StringComparison.Ordinal) ? name[..^".pretokenized".Length] : name;
        using var input = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, inputName + ".json")));
        var refs = input.RootElement.GetProperty("refs").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(x => x.GetString()!).ToList());
        var cands = input.RootElement.GetProperty("cands").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, name + ".expected.json"))).RootElement.Clone();
        return new MetricsCase(name, refs, cands, expected);
    }
}
