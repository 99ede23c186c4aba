namespace OneDiff.Bench;

/// <summary>The benchmarks' "--name value" arguments.</summary>
static class BenchArgs
{
    public static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    public static int Arg(string[] args, string name, int fallback) => Arg(args, name) is { } v ? int.Parse(v) : fallback;
}
