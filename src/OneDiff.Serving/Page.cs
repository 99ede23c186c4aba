namespace OneDiff.Serving;

/// <summary>The page at <c>/</c>: one self-contained HTML file (no outside scripts, styles or fonts).</summary>
internal static class Page
{
    public static string Html { get; } = Read();

    static string Read()
    {
        using var stream = typeof(Page).Assembly.GetManifestResourceStream("OneDiff.Serving.index.html")
            ?? throw new InvalidOperationException("the page resource is missing from the assembly");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
