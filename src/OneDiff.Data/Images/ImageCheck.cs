namespace OneDiff.Data.Images;

/// <summary>
/// Decodes every distinct image once, in parallel, keeping nothing: a bad file is found before a
/// long run starts rather than when its batch comes hours in.
/// </summary>
public static class ImageCheck
{
    /// <summary>Every problem of the pairs' images, with its record and file, in record order (each file once).</summary>
    public static List<DataProblem> Problems(IEnumerable<(DiffCapRecord Record, ImageInput Image1, ImageInput Image2)> pairs) =>
        Problems(pairs.SelectMany(p => new[] { ($"id {p.Record.Id}", p.Image1), ($"id {p.Record.Id}", p.Image2) }));

    /// <summary>Every problem of the images, each named by its record ("id 12"), in the given order (each file once).</summary>
    public static List<DataProblem> Problems(IEnumerable<(string Record, ImageInput Image)> images)
    {
        var distinct = images.Select((x, index) => (index, x.Record, x.Image)).DistinctBy(x => x.Image.Path ?? (object)x.Image).ToList();
        var problems = new System.Collections.Concurrent.ConcurrentBag<(int Index, DataProblem Problem)>();
        Parallel.ForEach(distinct, x =>
        {
            try { x.Image.Decode(); }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException or IOException or UnauthorizedAccessException)
            {
                problems.Add((x.index, new DataProblem(x.Record, x.Image.Name, Reason(e, x.Image.Name))));
            }
        });
        return problems.OrderBy(p => p.Index).Select(p => p.Problem).ToList();
    }

    /// <summary>What went wrong, without the file's name (a <see cref="DataProblem"/> names it once, after).</summary>
    public static string Reason(Exception e, string file) => e.Message.Replace(file + ": ", "").Replace(": " + file, "");
}
