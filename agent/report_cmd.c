/*
 * report_cmd.c — `gridsync report`: the command centre's figures per
 * community and grid (gs_report_get in gridsync.h; issue 6). The library
 * computes and defines every figure (store/report.c); this file reads the
 * arguments and prints either the library's JSON object or a table a
 * district command centre reads: communities with their grids indented
 * under them, the total last, Chinese labels, columns aligned by display
 * width (a CJK character takes two columns on a terminal).
 */
#include "gridsync.h"

#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns a UTF-8 string takes on a terminal: two for East Asian wide
 * characters (U+1100 and up, near enough for names and labels), one for
 * the rest. */
static int
width(const char *s)
{
    int w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned c = *p;
        int n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        unsigned cp = n == 1 ? c : c & (0x7fu >> n);
        for (int i = 1; i < n && (p[i] & 0xc0) == 0x80; i++)
            cp = cp << 6 | (p[i] & 0x3f);
        w += cp >= 0x1100 ? 2 : 1;
        for (int i = 0; i < n && *p; i++)
            p++;
    }
    return w;
}

/* s padded with spaces to w columns, on the left (right-aligned) or on
 * the right. */
static void
put_cell(const char *s, int w, bool right)
{
    int pad = w - width(s);
    if (right)
        printf("%*s%s", pad > 0 ? pad : 0, "", s);
    else
        printf("%s%*s", s, pad > 0 ? pad : 0, "");
}

#define N_COLS 10

static const char *const heads[N_COLS] = {
    "工单", "响应率",       "闭环率", "满意度",   "好评率",
    "超期", "独居老人关爱", "关爱率", "积分发放", "积分兑换",
};

static const int col_w[N_COLS] = {6, 8, 8, 8, 8, 6, 14, 8, 10, 10};

static long long
num(const json_t *t, const char *k)
{
    return json_integer_value(json_object_get(t, k));
}

/* A fraction as a percentage, or n/a when there was nothing to count. */
static void
pct(char *buf, size_t n, const json_t *t, const char *k)
{
    const json_t *v = json_object_get(t, k);
    if (json_is_number(v))
        snprintf(buf, n, "%.1f%%", json_number_value(v) * 100.0);
    else
        snprintf(buf, n, "n/a");
}

/* One row: the label (indented), the figures of t, the scope. */
static void
row(const char *label, int label_w, const json_t *t, const char *scope)
{
    char c[N_COLS][48];
    const json_t *mean = json_object_get(t, "satisfaction_mean");
    snprintf(c[0], sizeof c[0], "%lld", num(t, "tickets"));
    pct(c[1], sizeof c[1], t, "response_rate");
    pct(c[2], sizeof c[2], t, "closure_rate");
    if (json_is_number(mean))
        snprintf(c[3], sizeof c[3], "%.2f", json_number_value(mean));
    else
        snprintf(c[3], sizeof c[3], "n/a");
    pct(c[4], sizeof c[4], t, "satisfied_share");
    snprintf(c[5], sizeof c[5], "%lld", num(t, "overdue"));
    snprintf(c[6], sizeof c[6], "%lld/%lld", num(t, "checked_in"),
             num(t, "elderly_alone"));
    pct(c[7], sizeof c[7], t, "checkin_coverage");
    snprintf(c[8], sizeof c[8], "%lld", num(t, "points_granted"));
    snprintf(c[9], sizeof c[9], "%lld", num(t, "points_redeemed"));
    put_cell(label, label_w, false);
    for (int i = 0; i < N_COLS; i++)
        put_cell(c[i], col_w[i], true);
    printf("  %s\n", scope);
}

static const char *
str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void
print_table(const json_t *rep)
{
    const json_t *comms = json_object_get(rep, "communities"), *c, *g;
    char label[512];
    size_t i, j;
    int label_w = width("合计") + 2;
    json_array_foreach(comms, i, c)
    {
        int w = width(str(c, "name"));
        label_w = w + 2 > label_w ? w + 2 : label_w;
        json_array_foreach(json_object_get(c, "grids"), j, g)
        {
            w = width(str(g, "name")) + 2;
            label_w = w + 2 > label_w ? w + 2 : label_w;
        }
    }
    printf("%s（%s）社会治理报表  %s\n\n", str(rep, "name"), str(rep, "scope"),
           str(rep, "day"));
    put_cell("单位", label_w, false);
    for (int k = 0; k < N_COLS; k++)
        put_cell(heads[k], col_w[k], true);
    printf("  %s\n", "范围");
    json_array_foreach(comms, i, c)
    {
        row(str(c, "name"), label_w, json_object_get(c, "totals"),
            str(c, "scope"));
        json_array_foreach(json_object_get(c, "grids"), j, g)
        {
            snprintf(label, sizeof label, "  %s", str(g, "name"));
            row(label, label_w, json_object_get(g, "totals"), str(g, "scope"));
        }
    }
    row("合计", label_w, json_object_get(rep, "totals"), str(rep, "scope"));
    printf("\n"
           "响应率：按时受理的工单 / 工单（首次受理不晚于办理时限）\n"
           "闭环率：已闭环 / 工单    满意度：已评价工单的平均分（1–5）\n"
           "好评率：评价 4 分及以上 / 已评价    超期：未办结且已过办理时限\n"
           "关爱率：当日有签到的独居老人 / 独居老人    积分：发放与兑换合计\n"
           "n/a：没有可计算的数据    定义详见 gridsync report --help\n");
}

/* Take --day VALUE out of argv (the shared parser does not know it). */
static int
take_day(int *argc, char **argv, const char **day)
{
    int n = 0;
    for (int i = 0; i < *argc; i++) {
        if (strcmp(argv[i], "--day") == 0) {
            if (i + 1 >= *argc)
                return gs_cli_usage_error(gs_cli_current, "--day needs a "
                                                          "value");
            *day = argv[++i];
            continue;
        }
        argv[n++] = argv[i];
    }
    *argc = n;
    return -1;
}

int
gs_cli_report(int argc, char **argv)
{
    struct args a;
    const char *day = NULL;
    char *text = NULL;
    int ret = take_day(&argc, argv, &day);
    if (ret >= 0)
        return ret;
    if ((ret = gs_cli_parse_args(gs_cli_current, argc, argv, &a,
                                 "json scope")) >= 0)
        return ret;
    if (a.npos != 0)
        return gs_cli_usage_error(gs_cli_current, "unexpected '%s'", a.pos[0]);
    gs_replica *r = gs_cli_open();
    if (r == NULL)
        return EXIT_FAIL;
    gs_err rc = gs_report_get(r, a.scope, day, &text);
    if (rc != GS_OK) {
        ret = gs_cli_api_fail(r, "report", rc);
        gs_replica_close(r);
        return ret;
    }
    gs_replica_close(r);
    json_t *rep = json_loads(text, 0, NULL);
    if (a.json || rep == NULL)
        puts(text);
    else
        print_table(rep);
    json_decref(rep);
    free(text);
    return EXIT_OK;
}
