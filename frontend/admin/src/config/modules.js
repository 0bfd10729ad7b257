// Catalogue of the console's business modules, for the welcome page.
// A module becomes "live" once a route module with the same `name` exists in
// src/router/modules/; until then the welcome page lists it as 建设中.
export const MODULE_CATALOGUE = [
  { name: 'user-center', title: '用户中心', description: '后台账号、角色权限、审计与登录安全' },
  { name: 'wechat', title: '公众号', description: '粉丝、菜单、素材与自动回复' },
  { name: 'wecom', title: '企业微信', description: '通讯录同步、客户群与群机器人' },
  { name: 'miniprogram', title: '小程序', description: '会员、订阅消息与小程序配置' },
  { name: 'points', title: '积分商城', description: '积分账户、商品、兑换订单与积分规则' },
  { name: 'message', title: '消息中心', description: '群发活动、模板消息与发送结果' },
  { name: 'analytics', title: '数据分析', description: '关注、互动、积分与消息的统计报表' },
]
